package cdc

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

// reflected is Value without its MarshalJSON: what encoding/json writes
// from the tags alone.
type reflected Value

func TestValueJSONIsWhatTheTagsSay(t *testing.T) {
	cases := []Value{
		{},
		{After: json.RawMessage(`{"id": 1, "name" : "a<b>&c", "tags":[ 1, 2 ]}`), Op: OpCreate, TsMs: 1700000000123,
			Source: Source{Version: "1.0", Connector: "postgresql", Name: "shop", TsMs: 1700000000000, Snapshot: "false",
				DB: "shop", Schema: "public", Table: "orders", TxID: 771, LSN: 24023128}},
		{Before: json.RawMessage(`{"id":1}`), Op: OpDelete,
			Source: Source{Connector: "mysql", Name: "n\u00e9e \"q\" \\ \u2028", DB: "d\x01", Table: "t",
				ServerID: 1, File: "mariadb-bin.000001", Pos: 4242, GTID: "0-1-77", Row: 3}},
		{After: json.RawMessage("{\"html\": \"<a href='x'>&amp;</a>\", \"ls\": \"\u2028\u2029\"}"), Op: OpCreate},
		{Before: json.RawMessage(`null`), After: json.RawMessage(" \n{\"x\":\"\\u00e9\"}\t"), Op: OpUpdate, TsMs: -5,
			Source: Source{TxID: -1, LSN: -2, Pos: -3, Row: -4}},
	}
	for _, v := range cases {
		want, err := json.Marshal(reflected(v))
		require.NoError(t, err)
		got, err := v.AppendJSON(nil) // not through json.Marshal, which would escape and compact it again
		require.NoError(t, err)
		require.Equal(t, string(want), string(got))
	}
	for _, bad := range []string{`{"id":`, ``} {
		v := Value{After: json.RawMessage(bad)}
		_, err := v.AppendJSON(nil)
		require.Error(t, err, "%q is refused, as encoding/json refuses it", bad)
	}
}

func FuzzValueJSON(f *testing.F) {
	f.Add(`{"id": 1}`, "", "shop", "public", "orders", "0-1-2", int64(7), 3)
	f.Add(`[1,`, `null`, "<&>", "\x00\u2028", "\xff", "", int64(-1), -1)
	f.Fuzz(func(t *testing.T, after, before, name, schema, table, gtid string, n int64, row int) {
		v := Value{After: json.RawMessage(after), Before: json.RawMessage(before), Op: OpUpdate, TsMs: n,
			Source: Source{Name: name, Schema: schema, Table: table, GTID: gtid, LSN: n, Row: row, DB: name}}
		want, werr := json.Marshal(reflected(v))
		got, gerr := v.AppendJSON(nil)
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("encoding/json: %v; AppendJSON: %v", werr, gerr)
		}
		if werr == nil && string(want) != string(got) {
			t.Fatalf("encoding/json wrote %s; AppendJSON %s", want, got)
		}
	})
}
