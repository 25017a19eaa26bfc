package archive

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// The archive holds every event, personal data included: only weir's own
// user may read it, whatever the umask.
func TestArchiveFileModes(t *testing.T) {
	t.Parallel()
	b := setup(t)
	dir := filepath.Join(b.dir, "archive") // weir creates it
	a := b.start(t, Config{Dir: dir}, nil)
	last := publish(t, b.js, "order.created", "m-1")
	publish(t, b.js, "customer.deleted", "m-2")
	last = max(last, publish(t, b.js, "order.paid", "m-3"))
	waitArchived(t, a, last)
	a.Stop(t.Context())

	files := 0
	require.NoError(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if d.IsDir() {
			require.Equal(t, os.FileMode(0o700), info.Mode().Perm(), "directory %s", p)
			return nil
		}
		files++
		require.Equal(t, os.FileMode(0o600), info.Mode().Perm(), "file %s", p)
		return nil
	}))
	require.Greater(t, files, 3, "segments and the position file were checked")
}
