package delivery

import "github.com/weir-dev/weir/internal/delivery/target"

// TargetPolicy decides which push URLs and addresses weir may call; see
// package target.
type TargetPolicy = target.Policy

// ErrTargetDenied is wrapped by every refusal of the address policy, when a
// subscription is saved and when its address is dialled: retrying will not
// help, the URL or delivery.allow must change. It is target.ErrDenied.
var ErrTargetDenied = target.ErrDenied
