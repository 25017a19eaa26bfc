package cli

import (
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
)

// newFlags makes a command's flag set. Its usage is "usage: weir SYNOPSIS",
// a sentence on what it does, then its flags: those named in shown, or all.
func newFlags(name, synopsis, about string, stderr io.Writer, shown ...string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintf(w, "usage: weir %s\n\n%s\n", synopsis, about)
		listed := flag.NewFlagSet(name, flag.ContinueOnError)
		listed.SetOutput(w)
		fs.VisitAll(func(f *flag.Flag) {
			if len(shown) == 0 || slices.Contains(shown, f.Name) {
				listed.Var(f.Value, f.Name, f.Usage)
			}
		})
		if hasFlags(listed) {
			fmt.Fprintln(w, "\nflags:")
			listed.PrintDefaults()
		}
	}
	return fs
}

func hasFlags(fs *flag.FlagSet) bool {
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	return n > 0
}

// wantsHelp reports whether args ask for help (-h, -help or --help) before
// a "--".
func wantsHelp(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "-h", "-help", "--help":
			return true
		}
	}
	return false
}

// parseFlags parses a command's flags. Help asked for anywhere prints the
// usage on standard output and returns flag.ErrHelp, which exits 0; a bad
// flag prints it on standard error.
func parseFlags(fs *flag.FlagSet, args []string, stdout io.Writer) error {
	if wantsHelp(args) {
		fs.SetOutput(stdout)
		fs.Usage()
		return flag.ErrHelp
	}
	return fs.Parse(args)
}

// group is a command made of subcommands (weir deadletters ls|show|...).
type group struct {
	name string
	// subs are the subcommands' usage lines, in order.
	subs []string
}

// usage prints the group's subcommands.
func (g group) usage(w io.Writer) {
	fmt.Fprintf(w, "usage:\n")
	for _, s := range g.subs {
		fmt.Fprintf(w, "  weir %s %s\n", g.name, s)
	}
	fmt.Fprintf(w, "\nweir %s SUBCOMMAND --help shows a subcommand's flags.\n", g.name)
}

// pick returns the subcommand of args, or handles help and its absence:
// help prints the usage on stdout (flag.ErrHelp, exit 0), none is an error.
func (g group) pick(args []string, stdout io.Writer) (string, error) {
	if len(args) > 0 && wantsHelp(args[:1]) {
		g.usage(stdout)
		return "", flag.ErrHelp
	}
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		var b strings.Builder
		g.usage(&b)
		return "", fmt.Errorf("weir %s needs a subcommand\n%s", g.name, b.String())
	}
	return args[0], nil
}
