package cli

import (
	"bytes"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// Every command and subcommand answers -h and --help with its usage on
// standard output, exit 0, without doing anything else (serve --help starts
// nothing, send --help reads no file).
func TestEveryCommandAnswersHelp(t *testing.T) {
	t.Parallel()
	commands := [][]string{
		{"serve"}, {"send"}, {"tail"}, {"listen"}, {"replay"}, {"bench"}, {"version"},
		{"deadletters"}, {"deadletters", "ls"}, {"deadletters", "show"}, {"deadletters", "redrive"}, {"deadletters", "resolve"},
		{"contract"}, {"contract", "check"}, {"contract", "import"}, {"portal"}, {"portal", "link"},
		{"cdc"}, {"cdc", "status"}, {"cdc", "pause"}, {"cdc", "resume"}, {"cdc", "drop"}, {"cdc", "backfill"},
	}
	// The table covers every command the top-level usage lists.
	listed := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^  weir (\w+)`).FindAllStringSubmatch(usage, -1) {
		listed[m[1]] = true
	}
	delete(listed, "help")
	for _, c := range commands {
		delete(listed, c[0])
	}
	require.Empty(t, listed, "commands of the usage without a help test")

	for _, c := range commands {
		for _, h := range []string{"-h", "--help", "-help"} {
			var stdout, stderr bytes.Buffer
			code := Main(append(append([]string{}, c...), h), &stdout, &stderr)
			what := strings.Join(c, " ") + " " + h
			require.Equal(t, 0, code, "%s: %s", what, stderr.String())
			require.Empty(t, stderr.String(), what)
			require.True(t, strings.HasPrefix(stdout.String(), "usage:"), "%s: %s", what, stdout.String())
			require.Contains(t, stdout.String(), "weir "+strings.Join(c, " "), what)
			require.NotContains(t, stdout.String(), "unknown command", what)
		}
	}

	// Help after other arguments, and weir help COMMAND.
	var stdout bytes.Buffer
	require.Equal(t, 0, Main([]string{"deadletters", "show", "01K00000000000000000000000", "--help"}, &stdout, &bytes.Buffer{}))
	require.Contains(t, stdout.String(), "usage: weir deadletters show ID")
	stdout.Reset()
	require.Equal(t, 0, Main([]string{"help", "replay"}, &stdout, &bytes.Buffer{}))
	require.Contains(t, stdout.String(), "usage: weir replay SUBSCRIPTION")
}

// A bad flag still goes to standard error with the usage, and fails.
func TestBadFlagShowsUsageOnStderr(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	require.NotEqual(t, 0, Main([]string{"deadletters", "ls", "--nope"}, &stdout, &stderr))
	require.Empty(t, stdout.String())
	require.Contains(t, stderr.String(), "flag provided but not defined: -nope")
	require.Contains(t, stderr.String(), "usage: weir deadletters ls")
}

// --help never prints the token of $WEIR_TOKEN as a flag default.
func TestHelpDoesNotPrintTheToken(t *testing.T) {
	t.Setenv("WEIR_TOKEN", "weir_secret-that-must-not-show")
	for _, c := range [][]string{{"deadletters", "ls"}, {"replay"}, {"contract", "check"}, {"contract", "import"}, {"cdc", "status"}, {"cdc", "drop"}, {"cdc", "backfill"}} {
		var stdout bytes.Buffer
		require.Equal(t, 0, Main(append(c, "--help"), &stdout, &bytes.Buffer{}))
		require.NotContains(t, stdout.String(), "secret-that-must-not-show", c)
		require.Contains(t, stdout.String(), "$WEIR_TOKEN", c)
	}
}
