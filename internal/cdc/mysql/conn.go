package mysql

import (
	"bufio"
	"context"
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	driver "github.com/go-sql-driver/mysql"
)

// ServerError is an ERR packet of the server: Code is MySQL's error number
// (1236 is "could not find the position in the binlog").
type ServerError struct {
	Code    uint16
	State   string
	Message string
}

func (e *ServerError) Error() string {
	return fmt.Sprintf("mysql error %d (%s): %s", e.Code, e.State, e.Message)
}

// errPositionGone is the server saying it no longer has the binlog the
// saved position points into (error 1236): reading on would skip changes.
var errPositionGone = errors.New("mysql: the binlog position to resume from is no longer on the server")

// Client capability flags of the protocol (only those weir sends).
const (
	capLongPassword     = 1 << 0
	capLongFlag         = 1 << 2
	capProtocol41       = 1 << 9
	capTransactions     = 1 << 13
	capSecureConnection = 1 << 15
	capPluginAuth       = 1 << 19
)

// wire is one connection in the MySQL client/server protocol, enough for a
// replica: the handshake, plain statements, and the binlog stream. The
// go-sql-driver pool serves every other query; it cannot read a binlog.
type wire struct {
	c   net.Conn
	r   *bufio.Reader
	seq byte
	// ServerVersion is the handshake's version string.
	serverVersion string
}

// dial connects and authenticates with the DSN's user and password
// (mysql_native_password, MariaDB's default; other plugins are refused
// with their name).
func dial(ctx context.Context, dsn string) (*wire, error) {
	cfg, err := driver.ParseDSN(dsn)
	if err != nil {
		return nil, err
	}
	if cfg.Net != "tcp" && cfg.Net != "unix" {
		return nil, fmt.Errorf("mysql: network %q is not supported", cfg.Net)
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, cfg.Net, cfg.Addr)
	if err != nil {
		return nil, err
	}
	w := &wire{c: c, r: bufio.NewReaderSize(c, 64<<10)}
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	} else {
		_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	}
	if err := w.handshake(cfg.User, cfg.Passwd); err != nil {
		c.Close()
		return nil, err
	}
	_ = c.SetDeadline(time.Time{})
	return w, nil
}

func (w *wire) Close() error { return w.c.Close() }

// readPacket reads one logical packet (joining 16 MiB fragments).
func (w *wire) readPacket() ([]byte, error) {
	var out []byte
	for {
		var head [4]byte
		if _, err := io.ReadFull(w.r, head[:]); err != nil {
			return nil, err
		}
		n := int(uint32(head[0]) | uint32(head[1])<<8 | uint32(head[2])<<16)
		w.seq = head[3] + 1
		buf := make([]byte, n)
		if _, err := io.ReadFull(w.r, buf); err != nil {
			return nil, err
		}
		if out == nil && n < 0xffffff {
			return buf, nil
		}
		out = append(out, buf...)
		if n < 0xffffff {
			return out, nil
		}
	}
}

func (w *wire) writePacket(p []byte) error {
	for {
		n := min(len(p), 0xffffff)
		buf := make([]byte, 4+n)
		buf[0], buf[1], buf[2], buf[3] = byte(n), byte(n>>8), byte(n>>16), w.seq
		copy(buf[4:], p[:n])
		w.seq++
		if _, err := w.c.Write(buf); err != nil {
			return err
		}
		p = p[n:]
		if n < 0xffffff {
			return nil
		}
	}
}

func (w *wire) handshake(user, pass string) error {
	p, err := w.readPacket()
	if err != nil {
		return fmt.Errorf("mysql handshake: %w", err)
	}
	if p[0] == 0xff {
		return parseErr(p)
	}
	if p[0] != 10 {
		return fmt.Errorf("mysql handshake: protocol %d is not supported", p[0])
	}
	i := 1
	end := strings.IndexByte(string(p[i:]), 0)
	if end < 0 {
		return errors.New("mysql handshake: malformed")
	}
	w.serverVersion = string(p[i : i+end])
	i += end + 1 + 4 // version, connection id
	if len(p) < i+8+1+2+1+2+2+1+10 {
		return errors.New("mysql handshake: short")
	}
	scramble := append([]byte{}, p[i:i+8]...)
	i += 8 + 1 + 2 + 1 + 2 + 2 // part 1, filler, caps low, charset, status, caps high
	authLen := int(p[i])
	i += 1 + 10
	if n := max(13, authLen-8); len(p) >= i+n {
		scramble = append(scramble, p[i:i+n-1]...) // without its trailing NUL
		i += n
	}
	plugin := "mysql_native_password"
	if i < len(p) {
		if e := strings.IndexByte(string(p[i:]), 0); e >= 0 {
			plugin = string(p[i : i+e])
		} else {
			plugin = string(p[i:])
		}
	}
	auth, err := authData(plugin, pass, scramble)
	if err != nil {
		return err
	}
	caps := uint32(capLongPassword | capLongFlag | capProtocol41 | capTransactions | capSecureConnection | capPluginAuth)
	resp := binary.LittleEndian.AppendUint32(nil, caps)
	resp = binary.LittleEndian.AppendUint32(resp, 1<<24)
	resp = append(resp, 45) // utf8mb4_general_ci
	resp = append(resp, make([]byte, 23)...)
	resp = append(append(resp, user...), 0)
	resp = append(append(resp, byte(len(auth))), auth...)
	resp = append(append(resp, plugin...), 0)
	if err := w.writePacket(resp); err != nil {
		return err
	}
	for {
		p, err := w.readPacket()
		if err != nil {
			return fmt.Errorf("mysql handshake: %w", err)
		}
		switch p[0] {
		case 0x00:
			return nil
		case 0xff:
			return parseErr(p)
		case 0xfe: // auth switch: plugin name, then its data
			rest := p[1:]
			e := strings.IndexByte(string(rest), 0)
			if e < 0 {
				return errors.New("mysql handshake: malformed auth switch")
			}
			plugin = string(rest[:e])
			data := rest[e+1:]
			if n := len(data); n > 0 && data[n-1] == 0 {
				data = data[:n-1]
			}
			auth, err := authData(plugin, pass, data)
			if err != nil {
				return err
			}
			if err := w.writePacket(auth); err != nil {
				return err
			}
		default:
			return fmt.Errorf("mysql handshake: unexpected packet %#x (auth plugin %s)", p[0], plugin)
		}
	}
}

// authData answers an authentication challenge.
func authData(plugin, pass string, scramble []byte) ([]byte, error) {
	switch plugin {
	case "mysql_native_password":
		if pass == "" {
			return nil, nil
		}
		// SHA1(pass) XOR SHA1(scramble + SHA1(SHA1(pass)))
		h1 := sha1.Sum([]byte(pass))
		h2 := sha1.Sum(h1[:])
		s := sha1.New()
		s.Write(scramble[:min(20, len(scramble))])
		s.Write(h2[:])
		h3 := s.Sum(nil)
		for i := range h3 {
			h3[i] ^= h1[i]
		}
		return h3, nil
	case "mysql_clear_password":
		return append([]byte(pass), 0), nil
	default:
		return nil, fmt.Errorf("mysql: authentication plugin %s is not supported for the binlog connection; give the cdc user mysql_native_password", plugin)
	}
}

func parseErr(p []byte) error {
	e := &ServerError{}
	if len(p) >= 3 {
		e.Code = binary.LittleEndian.Uint16(p[1:3])
	}
	rest := p[min(3, len(p)):]
	if len(rest) >= 6 && rest[0] == '#' {
		e.State, rest = string(rest[1:6]), rest[6:]
	}
	e.Message = string(rest)
	if e.Code == 1236 {
		return fmt.Errorf("%w: %w", errPositionGone, e)
	}
	return e
}

// exec runs one statement that returns no rows.
func (w *wire) exec(sql string) error {
	w.seq = 0
	if err := w.writePacket(append([]byte{0x03}, sql...)); err != nil {
		return err
	}
	p, err := w.readPacket()
	if err != nil {
		return err
	}
	switch p[0] {
	case 0x00:
		return nil
	case 0xff:
		return parseErr(p)
	default:
		return fmt.Errorf("mysql: %s returned rows", sql)
	}
}

// command sends a command packet without waiting for an answer.
func (w *wire) command(p []byte) error {
	w.seq = 0
	return w.writePacket(p)
}
