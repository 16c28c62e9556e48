// A module of its own, so the NATS and Redis clients the peer benchmark
// needs never enter the product's go.mod. Not built by `make build` or
// tested by `make test`; scripts/bench-peers.sh runs it.
module github.com/logstream/logstream/scripts/benchpeers

go 1.24

require (
	github.com/nats-io/nats.go v1.37.0
	github.com/redis/go-redis/v9 v9.7.0
)

require (
	github.com/cespare/xxhash/v2 v2.2.0 // indirect
	github.com/dgryski/go-rendezvous v0.0.0-20200823014737-9f7001d12a5f // indirect
	github.com/klauspost/compress v1.17.2 // indirect
	github.com/nats-io/nkeys v0.4.7 // indirect
	github.com/nats-io/nuid v1.0.1 // indirect
	golang.org/x/crypto v0.18.0 // indirect
	golang.org/x/sys v0.16.0 // indirect
)
