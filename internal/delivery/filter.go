package delivery

import "github.com/weir-dev/weir/internal/delivery/filter"

// CompileFilter compiles a subscription's filter; see package filter.
func CompileFilter(expr string) (*filter.Filter, error) { return filter.Compile(expr) }
