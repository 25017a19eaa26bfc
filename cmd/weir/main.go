// Command weir is the event-first integration layer for micro apps. See
// `weir help` and the README.
package main

import (
	"os"

	"github.com/weir-dev/weir/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr))
}
