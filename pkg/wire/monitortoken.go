package wire

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
)

// MonitorTokenLabel is the fixed message whose HMAC under the cluster key is
// the monitor's bearer token.
const MonitorTokenLabel = "logstream monitor token v1"

// MonitorToken is the bearer token a broker's monitoring endpoints want when
// the cluster has a key: hex(HMAC-SHA256(key, MonitorTokenLabel)), so
// anyone holding the key can compute it (`logstreamctl monitor-token`, or
// `printf %s 'logstream monitor token v1' | openssl dgst -sha256 -hmac KEY`)
// and a leaked token does not reveal the key.
func (k *Key) MonitorToken() string {
	mac := hmac.New(sha256.New, k.secret)
	mac.Write([]byte(MonitorTokenLabel))
	return hex.EncodeToString(mac.Sum(nil))
}
