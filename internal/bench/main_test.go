package bench

import (
	"testing"

	"github.com/weir-dev/weir/internal/weirtest"
)

// TestMain removes the weir binary weirtest.BuildWeir built for this run.
func TestMain(m *testing.M) { weirtest.Main(m) }
