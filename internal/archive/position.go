package archive

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// positionFile is the archiver's durable position, in Dir.
const positionFile = "position.json"

// keepUploaded is how many of the last uploaded segments position.json names.
const keepUploaded = 256

// position is what position.json holds: how far the archive is complete and
// which bytes of the open segments are committed.
type position struct {
	// LastSeq is the stream sequence up to which every event is archived.
	LastSeq uint64 `json:"last_seq"`
	// LastTime is the stream time of the event at LastSeq.
	LastTime time.Time `json:"last_time,omitzero"`
	// Files are the open segments (paths relative to Dir) and their committed
	// lengths; a segment is here before its first byte is written.
	Files map[string]int64 `json:"files"`
	// ToUpload are closed segments not yet in S3.
	ToUpload []string `json:"to_upload,omitempty"`
	// Uploaded are the last segments uploaded, newest last.
	Uploaded []string `json:"uploaded,omitempty"`
}

func (p position) clone() position {
	p.Files = maps.Clone(p.Files)
	p.ToUpload = slices.Clone(p.ToUpload)
	p.Uploaded = slices.Clone(p.Uploaded)
	return p
}

// loadPosition reads Dir's position file; found is false when there is none.
func loadPosition(dir string) (p position, found bool, err error) {
	b, err := os.ReadFile(filepath.Join(dir, positionFile))
	if errors.Is(err, fs.ErrNotExist) {
		return position{Files: map[string]int64{}}, false, nil
	}
	if err != nil {
		return p, false, err
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return p, false, fmt.Errorf("%s: %w", filepath.Join(dir, positionFile), err)
	}
	if p.Files == nil {
		p.Files = map[string]int64{}
	}
	for rel, n := range p.Files {
		if _, _, ok := parseSegmentPath(rel); !ok || n < 0 {
			return p, false, fmt.Errorf("%s: bad entry %q: %d", filepath.Join(dir, positionFile), rel, n)
		}
	}
	return p, true, nil
}

// save replaces Dir's position file atomically and durably: a crash leaves
// either the old file or the new one, and the new one survives a power cut
// once save returns.
func (p position) save(dir string) error {
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return err
	}
	final := filepath.Join(dir, positionFile)
	tmp := final + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, fileMode)
	if err != nil {
		return fmt.Errorf("save position: %w", err)
	}
	_, err = f.Write(append(b, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, final)
	}
	if err == nil {
		err = syncDir(dir)
	}
	if err != nil {
		return fmt.Errorf("save position: %w", err)
	}
	return nil
}

// syncDir makes a directory's entries (a new or renamed file) durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// repair brings Dir back to its position file after a crash: every open
// segment is cut to its committed length, which drops a torn gzip member and
// any member whose commit did not happen. It returns the position to resume
// from and what it had to report.
func repair(dir string) (p position, notes []string, err error) {
	if err := os.MkdirAll(dir, dirMode); err != nil {
		return p, nil, err
	}
	p, found, err := loadPosition(dir)
	if err != nil {
		return p, nil, err
	}
	_ = os.Remove(filepath.Join(dir, positionFile+".tmp"))
	if !found {
		// Segments without a position cannot be told complete or torn, and
		// archiving the bus again on top of them would duplicate events.
		entries, err := os.ReadDir(dir)
		if err != nil {
			return p, nil, err
		}
		if len(entries) > 0 {
			return p, nil, fmt.Errorf("%s holds files but no %s: restore it, or move the files away to archive again from the bus", dir, positionFile)
		}
		return p, nil, p.save(dir)
	}
	changed := false
	for _, rel := range slices.Sorted(maps.Keys(p.Files)) {
		committed := p.Files[rel]
		name := filepath.Join(dir, filepath.FromSlash(rel))
		st, err := os.Stat(name)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			if committed > 0 {
				notes = append(notes, fmt.Sprintf("%s is missing; %d committed bytes are lost", rel, committed))
				p.Files[rel] = 0
				changed = true
			}
		case err != nil:
			return p, notes, err
		case st.Size() > committed:
			if err := cut(name, committed); err != nil {
				return p, notes, err
			}
			notes = append(notes, fmt.Sprintf("%s cut from %d to its committed %d bytes", rel, st.Size(), committed))
		case st.Size() < committed:
			notes = append(notes, fmt.Sprintf("%s is %d bytes, shorter than its committed %d; events in the missing part are lost", rel, st.Size(), committed))
			p.Files[rel] = st.Size()
			changed = true
		}
	}
	if changed {
		if err := p.save(dir); err != nil {
			return p, notes, err
		}
	}
	return p, notes, nil
}

// cut truncates a segment to its committed length n, durably; a segment with
// nothing committed is removed, since an empty file is no gzip stream.
func cut(name string, n int64) error {
	if n > 0 {
		return truncate(name, n)
	}
	if err := os.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return syncDir(filepath.Dir(name))
}

// truncate cuts a file to n bytes, durably.
func truncate(name string, n int64) error {
	f, err := os.OpenFile(name, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	err = f.Truncate(n)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
