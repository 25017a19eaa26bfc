package postgres

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkPostgresReader: one INSERT ... SELECT generate_series of b.N
// rows, timed from the commit until the recording emitter saw them all.
func BenchmarkPostgresReader(b *testing.B) {
	e := newEnvTB(b)
	e.pg.Exec(b, "", `CREATE TABLE bench (id int8 PRIMARY KEY, name text, amount numeric, at timestamptz)`)
	rec := &recorder{}
	e.startTB(b, e.spec("", "bench"), rec)
	n := max(b.N, 1000)
	b.ResetTimer()
	e.pg.Exec(b, "", fmt.Sprintf(`INSERT INTO bench SELECT g, 'name '||g, g*1.5, now() FROM generate_series(1, %d) g`, n))
	start := time.Now()
	for rec.count() < n {
		time.Sleep(time.Millisecond)
	}
	el := time.Since(start)
	b.ReportMetric(float64(n)/el.Seconds(), "changes/s")
}
