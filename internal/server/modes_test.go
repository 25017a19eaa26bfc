package server

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/bus"
	"github.com/weir-dev/weir/internal/weirtest"
)

// Everything weir keeps under data_dir (events, de-duplication keys, the
// archive, the admin token's hash) is readable by weir's own user only.
func TestDataDirIsPrivate(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.Tokens = nil // the bootstrap admin token is written too
	cfg.DataDir = filepath.Join(cfg.DataDir, "data")
	b := start(t, cfg)
	r := b.sendShop(t, `{"order":1}`, "m-private")
	require.Equal(t, 202, r.status, string(r.raw))
	weirtest.EventuallyTrue(t, 20*time.Second, func() bool { return b.srv.archiver.Status().LastSeq >= 1 }, "the event is archived")
	require.NoError(t, b.srv.Stop(t.Context()))

	var checked []string
	require.NoError(t, filepath.WalkDir(cfg.DataDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(cfg.DataDir, p)
		if d.IsDir() {
			require.Equal(t, os.FileMode(0o700), info.Mode().Perm(), "directory %s", rel)
			checked = append(checked, rel+"/")
			return nil
		}
		// The de-duplication store's files are Pebble's own (0644); its
		// directory above keeps them private.
		if strings.HasPrefix(rel, filepath.Join("bus", bus.DedupeDir)+string(filepath.Separator)) {
			return nil
		}
		require.Equal(t, os.FileMode(0o600), info.Mode().Perm(), "file %s", rel)
		checked = append(checked, rel)
		return nil
	}))
	require.Contains(t, checked, "admin-token.json")
	require.Contains(t, checked, "archive/")
	require.Contains(t, checked, filepath.Join("bus", bus.DedupeDir)+"/")
}
