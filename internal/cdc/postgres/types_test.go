package postgres

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/cdc"
)

func TestEveryColumnTypeRoundTrips(t *testing.T) {
	e := newEnv(t)
	e.pg.Exec(t, "", `CREATE TABLE kinds (id int8 PRIMARY KEY, num numeric(12,3), f8 float8, f4 float4, fnan float8, b bool,
 tx text, vc varchar(10), ts timestamp, tz timestamptz, d date, tm time, j json, jb jsonb, ai int[], at text[],
 u uuid, by bytea, big text);
ALTER TABLE kinds ALTER COLUMN big SET STORAGE EXTERNAL;`)
	rec := &recorder{}
	e.start(t, e.spec("", "kinds"), rec)
	big := strings.Repeat("x", 10000)
	e.pg.Exec(t, "", `INSERT INTO kinds VALUES (9007199254740993, 12345.678, 1.5, 2.25, 'NaN', true, 'héllo "q"', 'v',
 '2026-12-07 10:11:12.5', '2026-12-07 10:11:12+02', '2026-12-07', '13:14:15.25', '{"a":[1,2],  "h": "<b>&`+"\u2028"+`"}', '{"b": {"c": null}}',
 '{1,2,3}', '{"a b",NULL,"c,d"}', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '\xdeadbeef', '`+big+`')`)
	e.pg.Exec(t, "", `UPDATE kinds SET b = false`)
	cs := rec.waitFor(t, 2)
	after := string(cs[0].Value.After)
	require.JSONEq(t, `{"id":9007199254740993,"num":"12345.678","f8":1.5,"f4":2.25,"fnan":"NaN","b":true,
 "tx":"héllo \"q\"","vc":"v","ts":"2026-12-07T10:11:12.5","tz":"2026-12-07T08:11:12Z","d":"2026-12-07","tm":"13:14:15.25",
 "j":{"a":[1,2],"h":"<b>&\u2028"},"jb":{"b":{"c":null}},"ai":[1,2,3],"at":["a b",null,"c,d"],"u":"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
 "by":"`+base64.StdEncoding.EncodeToString([]byte{0xde, 0xad, 0xbe, 0xef})+`","big":"`+big+`"}`, after)
	require.Contains(t, after, `"id":9007199254740993`) // no float rounding
	// The update did not touch the TOASTed text: the server did not send it.
	require.Equal(t, cdc.Unavailable, obj(t, cs[1].Value.After)["big"])
	require.Equal(t, false, obj(t, cs[1].Value.After)["b"])

	// The rows are final as the reader wrote them (Value.Compact): the
	// event's data is what checking and compacting them would give.
	for _, c := range cs {
		require.True(t, c.Value.Compact)
		final, err := c.Value.AppendJSON(nil)
		require.NoError(t, err)
		v := c.Value
		v.Compact = false
		checked, err := v.AppendJSON(nil)
		require.NoError(t, err)
		require.Equal(t, string(checked), string(final))
	}
}

func TestNumericAsNumber(t *testing.T) {
	e := newEnv(t)
	e.pg.Exec(t, "", `CREATE TABLE m (id int PRIMARY KEY, amount numeric, amounts numeric[])`)
	spec := e.spec("", "m")
	spec.Numeric = "number"
	rec := &recorder{}
	e.start(t, spec, rec)
	e.pg.Exec(t, "", `INSERT INTO m VALUES (1, 10.25, '{1.5,2}'), (2, 'NaN', NULL)`)
	cs := rec.waitFor(t, 2)
	require.JSONEq(t, `{"id":1,"amount":10.25,"amounts":[1.5,2]}`, string(cs[0].Value.After))
	require.JSONEq(t, `{"id":2,"amount":"NaN","amounts":null}`, string(cs[1].Value.After))
}

func FuzzDecodeValue(f *testing.F) {
	d := newDecoder(false)
	oids := []uint32{}
	for oid := range typeNames {
		oids = append(oids, oid)
	}
	f.Add(uint16(0), []byte("{1,2}"))
	f.Add(uint16(1), []byte(`\x00ff`))
	f.Add(uint16(2), []byte("2026-12-07 10:11:12+02"))
	f.Fuzz(func(t *testing.T, i uint16, raw []byte) {
		_, _ = d.value(oids[int(i)%len(oids)], raw) // never panics
	})
}

// Values go into events as they are (cdc.Value.Compact), so the decoder
// takes only text that is JSON as it stands.
func TestDecoderKeepsRowsJSON(t *testing.T) {
	for _, ok := range []string{"0", "-1", "42", "-9223372036854775808"} {
		require.True(t, jsonInteger([]byte(ok)), ok)
	}
	for _, bad := range []string{"", "-", "+1", "007", "-01", "1e3", " 1"} {
		require.False(t, jsonInteger([]byte(bad)), bad)
	}
	d := newDecoder(true)
	_, err := d.value(pgtype.Int8OID, []byte("+1"))
	require.Error(t, err)
	require.Equal(t, "1.50", string(d.numeric("1.50").(json.RawMessage)))
	require.Equal(t, ".5", d.numeric(".5"), "not JSON as it is: kept as text")
}
