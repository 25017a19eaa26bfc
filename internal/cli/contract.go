package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/weir-dev/weir/internal/config"
	"github.com/weir-dev/weir/internal/contract"
	"github.com/weir-dev/weir/internal/contract/compat"
)

// errBreaking makes `weir contract check` exit non-zero without a second message.
var errBreaking = errors.New("breaking changes found")

// contractGroup lists the subcommands of weir contract.
var contractGroup = group{name: "contract", subs: []string{
	"check (--server URL | --base DIR [--allow-empty-base]) [--compatibility MODE] [--lenient] SCHEMA_FILE_OR_DIR...",
	"import [--server URL] [--token T] ASYNCAPI_FILE",
}}

// contractCmd runs `weir contract check|import`.
func contractCmd(args []string, stdout, stderr io.Writer) error {
	cmd, err := contractGroup.pick(args, stdout)
	if err != nil {
		return err
	}
	switch cmd {
	case "check":
		return contractCheck(args[1:], stdout, stderr)
	case "import":
		return contractImport(args[1:], stdout, stderr)
	}
	return fmt.Errorf("weir contract: unknown command %q (want check or import)", cmd)
}

// schemaFile is a schema found on disk; its type comes from its file name
// (order.created.json or order.created.schema.json).
type schemaFile struct {
	path, rel, typ string
}

func findSchemas(paths []string) ([]schemaFile, error) {
	var out []schemaFile
	add := func(path, rel string) {
		name := filepath.Base(path)
		typ := strings.TrimSuffix(strings.TrimSuffix(name, ".json"), ".schema")
		out = append(out, schemaFile{path: path, rel: rel, typ: typ})
	}
	for _, p := range paths {
		info, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !info.IsDir() {
			add(p, filepath.Base(p))
			continue
		}
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".json") {
				return err
			}
			rel, _ := filepath.Rel(p, path)
			add(path, rel)
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	slices.SortFunc(out, func(a, b schemaFile) int { return strings.Compare(a.rel, b.rel) })
	return out, nil
}

// contractCheck is the CI gate: it compares schema files with a running weir's
// contracts (--server) or with another checkout (--base) and exits 1 when a
// change breaks compatibility, printing every reason.
func contractCheck(args []string, stdout, stderr io.Writer) error {
	fset := newFlags("contract check", "contract "+contractGroup.subs[0],
		"CI gate: compare schema files with a running weir's contracts (--server) or another checkout (--base); exit 1 when one is not a valid schema or breaks its contract, with every reason. A missing or empty --base folder is an error unless --allow-empty-base.", stderr)
	server := fset.String("server", "", "compare with the contracts of the weir at this URL")
	tok := fset.String("token", "", "API token for --server (default $WEIR_TOKEN)")
	base := fset.String("base", "", "compare with the same files under this folder (e.g. the main branch's checkout)")
	mode := fset.String("compatibility", "", "mode: BACKWARD (default with --base; with --server, each contract's own), FORWARD, FULL, ..._TRANSITIVE, NONE")
	lenient := fset.Bool("lenient", false, "with --base: allow optional properties added to open objects")
	allowEmpty := fset.Bool("allow-empty-base", false, "with --base: a missing or empty base folder means every schema is new (the first run), instead of an error")
	if err := parseFlags(fset, args, stdout); err != nil {
		return err
	}
	if (*server == "") == (*base == "") || fset.NArg() == 0 {
		return errors.New("usage: weir contract check (--server URL | --base DIR [--allow-empty-base]) [--compatibility MODE] SCHEMA_FILE_OR_DIR...")
	}
	if *base != "" && !*allowEmpty {
		// A typo in a CI path would otherwise report every schema as new and pass.
		if err := checkBase(*base); err != nil {
			return err
		}
	}
	files, err := findSchemas(fset.Args())
	if err != nil {
		return err
	}
	var m contract.Mode
	if *mode != "" {
		if m, err = contract.ParseMode(*mode); err != nil {
			return err
		}
	}
	breaking, invalid := 0, 0
	for _, f := range files {
		schema, err := os.ReadFile(f.path)
		if err != nil {
			return err
		}
		// Checked before any comparison, so that a broken file with no
		// earlier version is not waved through as new.
		if err := contract.CheckSchema(schema); err != nil {
			invalid++
			fmt.Fprintf(stdout, "BAD   %s (%s): %s\n", f.typ, f.path, strings.ReplaceAll(err.Error(), "\n", "\n      "))
			continue
		}
		var res *contract.Result
		if *server != "" {
			res, err = remoteCheck(*server, *tok, f.typ, schema, m)
		} else {
			res, err = localCheck(filepath.Join(*base, f.rel), schema, m, *lenient)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", f.path, err)
		}
		if res == nil {
			fmt.Fprintf(stdout, "new   %s (%s): no earlier version\n", f.typ, f.path)
			continue
		}
		if res.Compatible {
			fmt.Fprintf(stdout, "ok    %s (%s): %s compatible\n", f.typ, f.path, res.Mode)
			continue
		}
		breaking++
		fmt.Fprintf(stdout, "BREAK %s (%s): not %s compatible\n", f.typ, f.path, res.Mode)
		for _, is := range res.Issues {
			fmt.Fprintf(stdout, "      %s [%s]: %s\n      fix: %s\n", orRoot(is.Pointer), is.Rule, is.Message, is.Fix)
		}
	}
	if invalid > 0 {
		fmt.Fprintf(stdout, "\n%d file(s) are not valid schemas.\n", invalid)
	}
	if breaking > 0 {
		fmt.Fprintf(stdout, "\n%d schema(s) break their contract.\n", breaking)
	}
	if invalid+breaking > 0 {
		return errBreaking
	}
	return nil
}

// checkBase refuses a --base folder that does not exist or holds no .json
// file: compared with nothing, every schema would pass as new.
func checkBase(dir string) error {
	info, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("--base %s: %w (give --allow-empty-base when no earlier schemas exist yet)", dir, err)
	}
	if !info.IsDir() {
		return fmt.Errorf("--base %s: not a folder", dir)
	}
	found, err := findSchemas([]string{dir})
	if err != nil {
		return fmt.Errorf("--base %s: %w", dir, err)
	}
	if len(found) == 0 {
		return fmt.Errorf("--base %s: no .json schema in it (give --allow-empty-base when no earlier schemas exist yet)", dir)
	}
	return nil
}

func orRoot(p string) string {
	if p == "" {
		return "(root)"
	}
	return p
}

func localCheck(basePath string, schema []byte, m contract.Mode, lenient bool) (*contract.Result, error) {
	old, err := os.ReadFile(basePath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if m == "" {
		m = contract.Backward
	}
	res, err := compat.Check(m, lenient, schema, [][]byte{old})
	if err != nil {
		return nil, err
	}
	return &res, nil
}

func remoteCheck(server, tok, typ string, schema []byte, m contract.Mode) (*contract.Result, error) {
	body, _ := json.Marshal(map[string]any{"schema": json.RawMessage(schema), "compatibility": string(m)})
	var res contract.Result
	status, err := apiCall(http.MethodPost, server, "/v1/contracts/"+typ+"/compatibility", tok, body, &res)
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return nil, fmt.Errorf("weir answered %d", status)
	}
	return &res, nil
}

// contractImport registers the contracts of an AsyncAPI 2.6 or 3.0 document.
func contractImport(args []string, stdout, stderr io.Writer) error {
	fset := newFlags("contract import", "contract "+contractGroup.subs[1],
		"Register the contracts of an AsyncAPI 2.6 or 3.0 document with a running weir.", stderr)
	cfgPath := fset.String("config", "", "configuration file (for the server address; default ./weir.yaml when present)")
	server := fset.String("server", "", serverFlagHelp)
	tok := fset.String("token", "", "API token (default $WEIR_TOKEN)")
	if err := parseFlags(fset, args, stdout); err != nil {
		return err
	}
	if fset.NArg() != 1 {
		return errors.New("usage: weir contract import [--server URL] [--token T] ASYNCAPI_FILE")
	}
	doc, err := os.ReadFile(fset.Arg(0))
	if err != nil {
		return err
	}
	found, err := contract.ImportAsyncAPI(doc)
	if err != nil {
		return err
	}
	base, err := serverURL(*server, *cfgPath)
	if err != nil {
		return err
	}
	failed := 0
	for _, c := range found {
		if err := config.ValidType(c.Type); err != nil {
			fmt.Fprintf(stdout, "skip  %s: the type %v\n", c.Type, err)
			failed++
			continue
		}
		for _, v := range c.Versions {
			body, _ := json.Marshal(map[string]any{"schema": v.Schema, "example": v.Example, "description": c.Description})
			var out map[string]any
			status, err := apiCall(http.MethodPost, base, "/v1/contracts/"+c.Type+"/versions", *tok, body, &out)
			if err != nil {
				return err
			}
			switch status {
			case http.StatusCreated:
				fmt.Fprintf(stdout, "added %s version %v\n", c.Type, out["version"])
			case http.StatusOK:
				fmt.Fprintf(stdout, "same  %s version %v (already registered)\n", c.Type, out["version"])
			default:
				failed++
				fmt.Fprintf(stdout, "FAIL  %s: %v\n", c.Type, out["detail"])
			}
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d contract version(s) not imported", failed)
	}
	return nil
}

// apiCall sends a JSON request to weir's API and decodes the answer into out.
// Without tok it sends $WEIR_TOKEN (read here, not as the flag's default, so
// that --help never prints it).
func apiCall(method, server, path, tok string, body []byte, out any) (int, error) {
	if tok == "" {
		tok = os.Getenv("WEIR_TOKEN")
	}
	req, err := http.NewRequest(method, strings.TrimRight(server, "/")+path, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if resp.StatusCode == http.StatusUnauthorized {
		return resp.StatusCode, errors.New("weir refused the token: give --token or set WEIR_TOKEN")
	}
	_ = json.Unmarshal(raw, out)
	return resp.StatusCode, nil
}
