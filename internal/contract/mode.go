package contract

import "github.com/weir-dev/weir/internal/contract/compat"

// The registry checks new versions with the compatibility engine in package
// compat; these names let its callers speak of a contract's mode and a
// check's result without importing it.
type (
	// Mode is a compatibility mode (compat.Mode).
	Mode = compat.Mode
	// Result is a compatibility verdict with its reasons (compat.Result).
	Result = compat.Result
	// Issue is one reason two schemas are incompatible (compat.Issue).
	Issue = compat.Issue
)

// Backward is the mode a contract gets when nothing names one (compat.Backward).
const Backward = compat.Backward

// ParseMode reads a mode name in any letter case; "" is Backward.
func ParseMode(s string) (Mode, error) { return compat.ParseMode(s) }
