package event

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"
)

// benchEvent is a typical ingress event, about 300 bytes encoded: a small
// webhook payload with the trace context weir carries in every event.
func benchEvent() Event {
	return Event{
		ID:              "01HZX3K5Q7W8E9R0T1Y2U3I4O5",
		Source:          "/in/github",
		SpecVersion:     SpecVersion,
		Type:            "com.github.push",
		Time:            time.Date(2025, 11, 30, 21, 13, 4, 123_000_000, time.UTC),
		DataContentType: "application/json",
		Extensions: map[string]any{
			"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		},
		Data: json.RawMessage(`{"ref":"refs/heads/main","after":"9fceb02d0ae5","pusher":{"name":"octocat"}}`),
	}
}

func BenchmarkMarshal(b *testing.B) {
	e := benchEvent()
	size := len(e.AppendJSON(nil))
	b.Run("AppendJSON", func(b *testing.B) {
		b.SetBytes(int64(size))
		b.ReportAllocs()
		buf := make([]byte, 0, 1024)
		for b.Loop() {
			buf = e.AppendJSON(buf[:0])
		}
	})
	b.Run("MarshalJSON", func(b *testing.B) {
		b.SetBytes(int64(size))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := e.MarshalJSON(); err != nil {
				b.Fatal(err)
			}
		}
	})
	// The same document through encoding/json's reflection, for scale.
	b.Run("encoding-json-reference", func(b *testing.B) {
		m := map[string]any{
			"specversion": e.SpecVersion, "id": e.ID, "source": e.Source, "type": e.Type,
			"time": e.Time, "datacontenttype": e.DataContentType,
			"traceparent": e.Extensions["traceparent"], "data": e.Data,
		}
		b.SetBytes(int64(size))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(m); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkDecode(b *testing.B) {
	body := benchEvent().AppendJSON(nil)
	b.Run("Decode", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := Decode(body); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json-reference", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			var m map[string]json.RawMessage
			if err := json.Unmarshal(body, &m); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkReadHTTPBinary(b *testing.B) {
	e := benchEvent()
	h := http.Header{}
	e.WriteBinaryHeaders(h)
	body, err := e.BinaryBody()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := ReadHTTP(h, body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCheckJSON is the check webhook ingress runs on every JSON body,
// against json.Valid, which it replaced (and which checks neither UTF-8 nor
// repeated names).
func BenchmarkCheckJSON(b *testing.B) {
	body := []byte(`{"order_id":"ord_8f14e45fceea167a5a36dedd4bea2543","customer":{"id":"cus_1042","email":"ada@example.com","country":"GB"},"items":[{"sku":"SKU-1","qty":2,"price":19.95},{"sku":"SKU-7","qty":1,"price":89.00}],"total":128.90,"currency":"EUR"}`)
	b.Run("CheckJSON", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			if err := CheckJSON(body); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("json.Valid-reference", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			if !json.Valid(body) {
				b.Fatal("invalid")
			}
		}
	})
}
