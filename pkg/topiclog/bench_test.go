package topiclog

import (
	"fmt"
	"testing"

	"github.com/logstream/logstream/pkg/record"
	"github.com/rs/zerolog"
)

// bench100B returns a batch of records whose encoding is about 100 bytes.
func bench100B(n int) []record.Record {
	recs := make([]record.Record, n)
	for i := range recs {
		recs[i] = record.Record{Timestamp: 1_700_000_000_000_000_000 + int64(i), ProducerID: "prod-1", Seq: uint64(i), Payload: make([]byte, 76)}
	}
	return recs
}

// BenchmarkAppend100B appends ~100-byte records in batches with
// FlushNever; one op is one record.
func BenchmarkAppend100B(b *testing.B) {
	for _, batch := range []int{100, 1000} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			s, err := OpenStore(b.TempDir(), Options{Logger: zerolog.Nop(), MaxRecords: 2_000_000})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			l, err := s.Topic("bench")
			if err != nil {
				b.Fatal(err)
			}
			recs := bench100B(batch)
			b.SetBytes(int64(len(appendEntry(nil, &recs[0]))))
			b.ResetTimer()
			for done := 0; done < b.N; done += batch {
				if _, err := l.Append(recs[:min(batch, b.N-done)]); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

// BenchmarkRead reads recent records (page cache) 500 at a time; one op is
// one record.
func BenchmarkRead(b *testing.B) {
	s, err := OpenStore(b.TempDir(), Options{Logger: zerolog.Nop()})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	l, err := s.Topic("bench")
	if err != nil {
		b.Fatal(err)
	}
	const total = 200_000
	recs := bench100B(1000)
	for l.NextOffset() < total {
		if _, err := l.Append(recs); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	from := uint64(0)
	for done := 0; done < b.N; {
		got, err := l.Read(from, min(500, b.N-done), 1<<20)
		if err != nil {
			b.Fatal(err)
		}
		done += len(got)
		from += uint64(len(got))
		if from >= total {
			from = 0
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkReadRaw reads recent records (page cache) as a catch-up
// subscription does: ReadRaw, 1000 at a time into a reused buffer; one op
// is one record.
func BenchmarkReadRaw(b *testing.B) {
	s, err := OpenStore(b.TempDir(), Options{Logger: zerolog.Nop()})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	l, err := s.Topic("bench")
	if err != nil {
		b.Fatal(err)
	}
	const total = 200_000
	recs := bench100B(1000)
	for l.NextOffset() < total {
		if _, err := l.Append(recs); err != nil {
			b.Fatal(err)
		}
	}
	var buf []byte
	b.ResetTimer()
	from := uint64(0)
	for done := 0; done < b.N; {
		got, err := l.ReadRaw(from, min(1000, b.N-done), 2<<20, total, buf[:0])
		if err != nil {
			b.Fatal(err)
		}
		buf = got.Encoded
		done += got.Count
		from += uint64(got.Count)
		if from >= total {
			from = 0
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}
