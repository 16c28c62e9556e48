package monitor

import (
	_ "embed"
	"net/http"
)

// dashboardPage is the live cluster dashboard: one self-contained page (no
// external script, style or font) that polls /status and /events.
//
//go:embed web/index.html
var dashboardPage []byte

func dashboard(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src 'self' data:")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Write(dashboardPage)
}
