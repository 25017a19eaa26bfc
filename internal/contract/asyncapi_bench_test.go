package contract

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// wideAsyncAPI is a document whose one payload refers to n schemas in
// components.schemas: each reference is a lookup among n members.
func wideAsyncAPI(n int) []byte {
	var b strings.Builder
	b.WriteString(`{"asyncapi":"3.0.0","channels":{"c":{"messages":{"m":{"payload":{"type":"object","properties":{`)
	for i := range n {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `"p%d":{"$ref":"#/components/schemas/S%d"}`, i, i)
	}
	b.WriteString(`}}}}}},"components":{"schemas":{`)
	for i := range n {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `"S%d":{"type":"string"}`, i)
	}
	b.WriteString(`}}}`)
	return []byte(b.String())
}

// BenchmarkImportAsyncAPI shows that importing grows linearly with the
// document: MB/s stays level from 1,000 to 10,000 schemas.
func BenchmarkImportAsyncAPI(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		doc := wideAsyncAPI(n)
		b.Run(fmt.Sprintf("schemas=%d", n), func(b *testing.B) {
			b.SetBytes(int64(len(doc)))
			for b.Loop() {
				if _, err := ImportAsyncAPI(doc); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestImportAsyncAPITooLarge(t *testing.T) {
	t.Parallel()
	doc := append([]byte(`{"asyncapi":"3.0.0","x":"`), bytes.Repeat([]byte("a"), maxDocBytes)...)
	doc = append(doc, `"}`...)
	_, err := ImportAsyncAPI(doc)
	var ie *ImportError
	require.ErrorAs(t, err, &ie)
	require.Equal(t, fmt.Sprintf("asyncapi: the document is %d bytes; weir imports AsyncAPI documents of up to 8 MiB: split it into several documents", len(doc)), err.Error())
}
