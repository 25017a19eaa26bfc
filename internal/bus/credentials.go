package bus

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// CredentialsFile is where weir keeps the user and password of its exposed
// embedded bus, under the data directory, when weir.yaml gives none.
const CredentialsFile = "bus-credentials.json"

// Credentials are the user and password NATS clients (weir itself, `weir
// tail`) give the embedded bus when it listens on a port. They grant
// everything on the bus: reading every stream, publishing events, changing
// subscriptions.
type Credentials struct {
	User     string `json:"user"`
	Password string `json:"password"`
}

// LoadOrCreateCredentials returns the credentials kept in dir, generating and
// writing them (mode 0600) on first use.
func LoadOrCreateCredentials(dir string) (Credentials, error) {
	path := filepath.Join(dir, CredentialsFile)
	c, err := ReadCredentials(path)
	if !errors.Is(err, os.ErrNotExist) {
		return c, err
	}
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	c = Credentials{User: "weir", Password: base64.RawURLEncoding.EncodeToString(secret)}
	raw, _ := json.MarshalIndent(c, "", "  ")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return Credentials{}, err
	}
	// A new file of weir's own (O_EXCL, mode 0600), never one another user
	// made ready at a fixed name, then renamed into place.
	f, err := os.CreateTemp(dir, ".bus-credentials-*")
	if err != nil {
		return Credentials{}, err
	}
	tmp := f.Name()
	_, werr := f.Write(append(raw, '\n'))
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp, path)
	}
	if werr != nil {
		_ = os.Remove(tmp)
		return Credentials{}, werr
	}
	return c, nil
}

// ReadCredentials reads a credentials file. A file that other users may read
// is refused: the password in it opens the whole bus.
func ReadCredentials(path string) (Credentials, error) {
	f, err := os.Open(path)
	if err != nil {
		return Credentials{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return Credentials{}, err
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return Credentials{}, fmt.Errorf("%s is readable by other users (mode %04o): chmod 600 it", path, perm)
	}
	var c Credentials
	if err := json.NewDecoder(f).Decode(&c); err != nil || c.User == "" || c.Password == "" {
		return Credentials{}, fmt.Errorf("%s is damaged (want {\"user\": ..., \"password\": ...}); delete it to generate new credentials", path)
	}
	return c, nil
}
