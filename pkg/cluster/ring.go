package cluster

import (
	"encoding/binary"
	"hash/fnv"
	"slices"
)

// hashRing is a consistent-hash ring with virtual nodes. Views keep topic
// ownership sticky (the view install lists every known topic's owner); the
// ring only places new topics and those whose owner left or was judged
// Failed, so a join moves nothing and a departure or failure moves only that
// member's topics (onto the members that answered the state exchange).
type hashRing struct {
	points []ringPoint
}

type ringPoint struct {
	hash uint64
	id   NodeID
}

func newHashRing(ids []NodeID, vnodes int) *hashRing {
	r := &hashRing{points: make([]ringPoint, 0, len(ids)*vnodes)}
	var buf [16]byte
	for _, id := range ids {
		for v := range vnodes {
			binary.BigEndian.PutUint64(buf[:8], uint64(id))
			binary.BigEndian.PutUint64(buf[8:], uint64(v))
			r.points = append(r.points, ringPoint{hash: hash64(buf[:]), id: id})
		}
	}
	slices.SortFunc(r.points, func(a, b ringPoint) int {
		if a.hash != b.hash {
			if a.hash < b.hash {
				return -1
			}
			return 1
		}
		return cmpID(a.id, b.id)
	})
	return r
}

func hash64(b []byte) uint64 {
	h := fnv.New64a()
	h.Write(b)
	// FNV alone clusters similar keys; a final avalanche spreads them.
	x := h.Sum64()
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
}

// owner returns the member owning key (0 on an empty ring).
func (r *hashRing) owner(key string) NodeID {
	if len(r.points) == 0 {
		return 0
	}
	h := hash64([]byte(key))
	i, _ := slices.BinarySearchFunc(r.points, h, func(p ringPoint, h uint64) int {
		if p.hash < h {
			return -1
		}
		if p.hash > h {
			return 1
		}
		return 0
	})
	if i == len(r.points) {
		i = 0
	}
	return r.points[i].id
}
