package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/logstream/logstream/pkg/internal/proctest"
	"github.com/logstream/logstream/pkg/internal/testnet"
	"github.com/logstream/logstream/pkg/statusreport"
)

// artifactDir is where browser screenshots are kept after the test:
// $LOGSTREAM_ARTIFACTS, or logstream-artifacts in the temp directory.
func artifactDir(t *testing.T) string {
	dir := os.Getenv("LOGSTREAM_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "logstream-artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// pollUntil calls cond every 100 ms until it holds, at most for d.
func pollUntil(t *testing.T, d time.Duration, what string, cond func() (bool, string)) time.Time {
	t.Helper()
	deadline := time.Now().Add(d)
	last := ""
	for i := 0; i < int(d/(100*time.Millisecond))+1; i++ {
		ok, state := cond()
		if ok {
			return time.Now()
		}
		last = state
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond) // polling a page, bounded by count and time
	}
	t.Fatalf("no %s within %s (last: %s)", what, d, last)
	return time.Time{}
}

// The dashboard in a real browser: three brokers in namespaces, Chromium on
// a fourth host loads a follower's page, which names the three brokers and
// the leader; after kill -9 of the leader the same page (no reload) shows
// the new leader. Screenshots before and after are kept.
func TestDashboardInBrowser(t *testing.T) {
	path := chromiumPath()
	if path == "" {
		t.Skip("chromium not found (Debian: apt-get install chromium): the dashboard's browser test needs it")
	}
	netw := testnet.New(t, testnet.Options{Hosts: 4})
	home := t.TempDir()
	var brokers []*proc
	var addrs []string
	for i := 0; i < 3; i++ {
		h := netw.Host(i)
		env := append([]string{"LOGSTREAM_HOME=" + home, fmt.Sprintf("NODE_NAME=node%d", i+1),
			"MONITOR_ADDRESS=" + h.IP.String() + ":9464"}, fastTiming...)
		brokers = append(brokers, start(t, h, env, "logstream"))
		addrs = append(addrs, h.IP.String()+":8001")
		if i == 0 {
			brokers[0].waitLog("ClusterState", 10*time.Second)
		}
	}
	for _, b := range brokers {
		waitLogMatch(t, b, func(s string) bool { return proctest.LastViewSize(s) == 3 }, 30*time.Second, "a view of 3 brokers")
	}

	client := httpIn(netw.Host(3))
	leaderOf := func(i int) string {
		code, body := httpGet(t, client, "http://"+netw.Host(i).IP.String()+":9464/status", "")
		if code != 200 {
			return ""
		}
		var rep statusreport.Report
		if json.Unmarshal([]byte(body), &rep) != nil || rep.Cluster == nil {
			return ""
		}
		return rep.Cluster.LeaderAddr
	}
	leader := leaderOf(0)
	li := slices.Index(addrs, leader)
	if li < 0 {
		t.Fatalf("leader %q is none of %v", leader, addrs)
	}
	page := (li + 1) % 3 // a follower's page survives the leader's death

	// Records flowing, so the page has a topic, offsets and a rate to draw.
	start(t, netw.Host(3), []string{"LOGSTREAM_HOME=" + home}, "producer", "-leader", leader, "-topic", "dash",
		"-rate", "200", "-count", "1000000", "-reconnect-delay", "1", "-reconnect-attempts", "60")

	b := startBrowser(t, netw.Host(3), path)
	url := "http://" + netw.Host(page).IP.String() + ":9464/"
	if err := b.navigate(url); err != nil {
		t.Fatal(err)
	}
	shownLeader := func() string {
		var s string
		if err := b.eval(`document.getElementById("leader").textContent`, &s); err != nil {
			return "(" + err.Error() + ")"
		}
		return s
	}
	pollUntil(t, 20*time.Second, "page naming the three brokers and the leader", func() (bool, string) {
		var members []string
		if err := b.eval(`[...document.querySelectorAll("#members tr td:nth-child(2)")].map(e => e.textContent)`, &members); err != nil {
			return false, err.Error()
		}
		slices.Sort(members)
		want := slices.Clone(addrs)
		slices.Sort(want)
		l := shownLeader()
		return slices.Equal(members, want) && strings.HasPrefix(l, leader), fmt.Sprintf("members %v, leader %q", members, l)
	})
	pollUntil(t, 20*time.Second, "topic dash on the page with a non-zero rate", func() (bool, string) {
		var cells []string
		err := b.eval(`[...document.querySelectorAll("#topics tr td")].map(c => c.textContent)`, &cells)
		return err == nil && len(cells) >= 6 && cells[0] == "dash" && cells[5] != "0.0", fmt.Sprint(cells, err)
	})
	pollUntil(t, 20*time.Second, "five samples in the rate chart", func() (bool, string) {
		var n int
		err := b.eval(`Number(document.querySelector("#topics canvas")?.dataset.samples || 0)`, &n)
		return err == nil && n >= 5, fmt.Sprint(n, err)
	})
	dir := artifactDir(t)
	before := filepath.Join(dir, "dashboard-before.png")
	if err := b.screenshot(before); err != nil {
		t.Fatalf("screenshot: %v", err)
	}

	brokers[li].signal(9)
	killed := time.Now()
	var newLeader string
	viewSeen := pollUntil(t, 30*time.Second, "new leader in the page broker's /status", func() (bool, string) {
		newLeader = leaderOf(page)
		return newLeader != "" && newLeader != leader, newLeader
	})
	shown := pollUntil(t, 10*time.Second, "new leader on the page", func() (bool, string) {
		l := shownLeader()
		return strings.HasPrefix(l, newLeader), l
	})
	var failedShown bool
	_ = b.eval(`document.getElementById("events").textContent.includes("new leader")`, &failedShown)
	if !failedShown {
		t.Errorf("the page's event list does not show the new leader")
	}
	after := filepath.Join(dir, "dashboard-after.png")
	if err := b.screenshot(after); err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	// A phone: the page fits its width (wide tables scroll inside their box).
	if err := b.call(b.session, "Emulation.setDeviceMetricsOverride",
		map[string]any{"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": true}, nil); err != nil {
		t.Fatal(err)
	}
	phone := filepath.Join(dir, "dashboard-phone.png")
	pollUntil(t, 5*time.Second, "page laid out at phone width", func() (bool, string) {
		var w int
		err := b.eval(`document.documentElement.scrollWidth`, &w)
		return err == nil && w <= 390, fmt.Sprint(w, err)
	})
	if err := b.screenshot(phone); err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	t.Logf("leader %s killed; %s became leader %.1fs later; the page showed it %.2fs after /status did; screenshots %s, %s, %s",
		leader, newLeader, viewSeen.Sub(killed).Seconds(), shown.Sub(viewSeen).Seconds(), before, after, phone)
}
