package roles

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/logstream/logstream/pkg/analytics"
	"github.com/logstream/logstream/pkg/internal/cliutil"
	"github.com/logstream/logstream/pkg/record"
	"github.com/logstream/logstream/pkg/wire"
)

// printer writes what a consumer receives to standard output. On a terminal
// the latest statistics stay on the last line, redrawn in place; elsewhere
// everything is plain lines (or JSON objects) that scripts can read.
type printer struct {
	w         *bufio.Writer
	json      bool
	tty       bool
	topic     string
	statsLine string // what is drawn on the terminal's last line
	enc       *json.Encoder
	line      []byte // a record's JSON, reused
	jsonRecs  jsonRecords
}

func newPrinter(w io.Writer, format, topic string) *printer {
	p := &printer{w: bufio.NewWriterSize(w, 64<<10), json: format == "json", tty: cliutil.IsTerminal(w), topic: topic}
	p.enc = json.NewEncoder(p.w)
	p.enc.SetEscapeHTML(false)
	return p
}

// jsonRecord is a record's JSON object; jsonRecords writes it.
type jsonRecord struct {
	Type          string `json:"type"`
	Topic         string `json:"topic"`
	Offset        uint64 `json:"offset"`
	Timestamp     string `json:"timestamp"`
	Producer      string `json:"producer"`
	Seq           uint64 `json:"seq"`
	Payload       string `json:"payload,omitempty"`
	PayloadBase64 []byte `json:"payload_base64,omitempty"`
}

type jsonStats struct {
	Type        string            `json:"type"`
	Topic       string            `json:"topic"`
	Time        string            `json:"time"`
	Total       uint64            `json:"total"`
	WindowSec   uint32            `json:"window_seconds"`
	WindowCount uint64            `json:"window_count"`
	Rate        float64           `json:"rate_per_second"`
	BytesPerSec float64           `json:"bytes_per_second"`
	LastOffset  uint64            `json:"last_offset"`
	PerProducer map[string]uint64 `json:"per_producer"`
	Buckets     []uint32          `json:"buckets"`
}

func (p *printer) record(r *record.Record) {
	if p.json {
		p.line = p.jsonRecs.append(p.line[:0], p.topic, r) // the bytes encoding/json makes of jsonRecord
		p.w.Write(p.line)
	} else {
		p.clearStats()
		p.w.Write(r.Payload)
		p.w.WriteByte('\n')
		p.redrawStats()
	}
	if p.w.Buffered() > 32<<10 {
		p.flush()
	}
}

func (p *printer) stats(s *wire.Stats) {
	if p.json {
		js := jsonStats{Type: "stats", Topic: s.Topic, Time: time.Unix(0, s.UnixNano).UTC().Format(time.RFC3339Nano),
			Total: s.Total, WindowSec: s.WindowSec, WindowCount: s.WindowCount, Rate: s.Rate, BytesPerSec: s.BytesPerSec,
			LastOffset: s.LastOffset, PerProducer: map[string]uint64{}, Buckets: s.Buckets}
		for _, pc := range s.PerProducer {
			js.PerProducer[pc.ProducerID] = pc.Count
		}
		p.enc.Encode(&js)
		p.flush()
		return
	}
	line := formatStats(s, p.tty)
	if p.tty {
		p.clearStats()
		p.statsLine = line
		p.redrawStats()
	} else {
		p.w.WriteString(line)
		p.w.WriteByte('\n')
	}
	p.flush()
}

// formatStats renders one statistics update on one line.
func formatStats(s *wire.Stats, spark bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "[stats %s] total=%d last%ds=%d rate=%s %s", s.Topic, s.Total, s.WindowSec, s.WindowCount,
		analytics.FormatRate(s.Rate), analytics.FormatBytes(s.BytesPerSec))
	if spark && len(s.Buckets) > 0 {
		b.WriteString(" ")
		b.WriteString(analytics.Sparkline(s.Buckets, 30))
	}
	for i, pc := range s.PerProducer {
		if i == 3 {
			fmt.Fprintf(&b, " +%d more", len(s.PerProducer)-3)
			break
		}
		fmt.Fprintf(&b, " %s=%d", pc.ProducerID, pc.Count)
	}
	return b.String()
}

func (p *printer) clearStats() {
	if p.tty && p.statsLine != "" {
		p.w.WriteString("\r\033[K")
	}
}

func (p *printer) redrawStats() {
	if p.tty && p.statsLine != "" {
		p.w.WriteString(p.statsLine)
	}
}

// flush writes what is buffered; its error (a closed pipe, a full disk)
// is sticky, so a grouped consumer never acknowledges what it lost.
func (p *printer) flush() error {
	return p.w.Flush()
}

func (p *printer) finish() {
	if p.tty && p.statsLine != "" {
		p.w.WriteByte('\n')
	}
	p.flush()
}
