package mysql

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// Binlog event types weir reads (MySQL's and MariaDB's numbers).
const (
	evQuery        = 0x02
	evRotate       = 0x04
	evFormatDesc   = 0x0f
	evXID          = 0x10
	evTableMap     = 0x13
	evWriteRowsV1  = 0x17
	evUpdateRowsV1 = 0x18
	evDeleteRowsV1 = 0x19
	evHeartbeat    = 0x1b
	evWriteRowsV2  = 0x1e
	evUpdateRowsV2 = 0x1f
	evDeleteRowsV2 = 0x20
	evMySQLGTID    = 0x21
	evMariaGTID    = 0xa2
	evMariaGTIDLst = 0xa3
)

// errMalformed is an event shorter or stranger than its type allows.
var errMalformed = errors.New("mysql: malformed binlog event")

// errNoTable is a rows event of a captured table that no longer exists:
// without its columns the rows cannot be decoded, and they are not skipped.
var errNoTable = errors.New("the table of these rows no longer exists")

// header is the 19-byte common header of a binlog event.
type header struct {
	Timestamp uint32
	Type      byte
	ServerID  uint32
	Size      uint32
	LogPos    uint32 // the position of the next event in the file
}

func parseHeader(b []byte) (header, []byte, error) {
	if len(b) < 19 {
		return header{}, nil, errMalformed
	}
	h := header{
		Timestamp: binary.LittleEndian.Uint32(b),
		Type:      b[4],
		ServerID:  binary.LittleEndian.Uint32(b[5:]),
		Size:      binary.LittleEndian.Uint32(b[9:]),
		LogPos:    binary.LittleEndian.Uint32(b[13:]),
	}
	return h, b[19:], nil
}

// checksumBody checks and strips an event's CRC32 when the binlog has them.
func checksumBody(ev []byte, crc bool) ([]byte, error) {
	if !crc {
		return ev, nil
	}
	if len(ev) < 23 {
		return nil, errMalformed
	}
	n := len(ev) - 4
	if crc32.ChecksumIEEE(ev[:n]) != binary.LittleEndian.Uint32(ev[n:]) {
		return nil, errors.New("mysql: binlog event checksum mismatch")
	}
	return ev[:n], nil
}

// formatChecksum reads the checksum algorithm from a format description
// event's body (with its checksum still on): 1 is CRC32.
func formatChecksum(body []byte) bool {
	// binlog version 2, server version 50, created 4, header length 1,
	// post-header lengths..., checksum algorithm 1, checksum 4
	if len(body) < 57+5 {
		return false
	}
	return body[len(body)-5] == 1
}

// gtid is a MariaDB GTID: domain-server-sequence.
type gtid struct {
	Domain, Server uint32
	Seq            uint64
}

func (g gtid) String() string { return fmt.Sprintf("%d-%d-%d", g.Domain, g.Server, g.Seq) }

// mariaGTID parses a MariaDB GTID event; standalone is true when no XID or
// COMMIT ends the group (DDL).
func mariaGTID(h header, body []byte) (g gtid, standalone bool, err error) {
	if len(body) < 13 {
		return g, false, errMalformed
	}
	g = gtid{Seq: binary.LittleEndian.Uint64(body), Domain: binary.LittleEndian.Uint32(body[8:]), Server: h.ServerID}
	return g, body[12]&1 != 0, nil
}

// query is a query event's database and statement.
func parseQuery(body []byte) (db, stmt string, err error) {
	if len(body) < 13 {
		return "", "", errMalformed
	}
	dbLen := int(body[8])
	varsLen := int(binary.LittleEndian.Uint16(body[11:]))
	i := 13 + varsLen
	if len(body) < i+dbLen+1 {
		return "", "", errMalformed
	}
	return string(body[i : i+dbLen]), string(body[i+dbLen+1:]), nil
}

// rowsEvent is a WRITE, UPDATE or DELETE rows event: its rows stay encoded
// until the table's columns are known.
type rowsEvent struct {
	TableID uint64
	Columns int
	Present []byte // bitmap of the columns the rows carry
	After   []byte // UPDATE: bitmap of the after image's columns
	Rows    []byte
}

func parseRows(typ byte, body []byte) (*rowsEvent, error) {
	if len(body) < 8 {
		return nil, errMalformed
	}
	r := &rowsEvent{TableID: le48(body)}
	b := body[8:]
	if typ >= evWriteRowsV2 && typ <= evDeleteRowsV2 {
		if len(b) < 2 {
			return nil, errMalformed
		}
		extra := int(binary.LittleEndian.Uint16(b))
		if extra < 2 || len(b) < extra {
			return nil, errMalformed
		}
		b = b[extra:]
	}
	n, b, ok := lenEncInt(b)
	if !ok || n > 4096 {
		return nil, errMalformed
	}
	r.Columns = int(n)
	bm := (r.Columns + 7) / 8
	if len(b) < bm {
		return nil, errMalformed
	}
	r.Present, b = b[:bm], b[bm:]
	r.After = r.Present
	if typ == evUpdateRowsV1 || typ == evUpdateRowsV2 {
		if len(b) < bm {
			return nil, errMalformed
		}
		r.After, b = b[:bm], b[bm:]
	}
	r.Rows = b
	return r, nil
}

func le48(b []byte) uint64 {
	return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 | uint64(b[4])<<32 | uint64(b[5])<<40
}

// lenString reads a one-byte length, the string and its NUL.
func lenString(b []byte) (string, []byte, bool) {
	if len(b) < 1 {
		return "", nil, false
	}
	n := int(b[0])
	if len(b) < 1+n+1 {
		return "", nil, false
	}
	return string(b[1 : 1+n]), b[1+n+1:], true
}

// lenEncInt reads a length-encoded integer.
func lenEncInt(b []byte) (uint64, []byte, bool) {
	if len(b) < 1 {
		return 0, nil, false
	}
	switch b[0] {
	case 0xfc:
		if len(b) < 3 {
			return 0, nil, false
		}
		return uint64(binary.LittleEndian.Uint16(b[1:])), b[3:], true
	case 0xfd:
		if len(b) < 4 {
			return 0, nil, false
		}
		return uint64(b[1]) | uint64(b[2])<<8 | uint64(b[3])<<16, b[4:], true
	case 0xfe:
		if len(b) < 9 {
			return 0, nil, false
		}
		return binary.LittleEndian.Uint64(b[1:]), b[9:], true
	case 0xfb, 0xff:
		return 0, nil, false
	}
	return uint64(b[0]), b[1:], true
}

func bitSet(bm []byte, i int) bool { return bm[i/8]&(1<<(i%8)) != 0 }
