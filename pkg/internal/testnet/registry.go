package testnet

import (
	"os"
	"os/signal"
	"sync"
	"syscall"
)

// registry tracks what this process has open so an interrupted `go test`
// (SIGINT, SIGTERM) still deletes its namespaces. The handler is installed
// while at least one set is open and removed after the last one closes, so
// it never changes signal behaviour for tests that do not use testnet.
var registry struct {
	mu    sync.Mutex
	sets  map[*nsSet]struct{}
	names map[string]struct{}
	sigs  chan os.Signal
}

func registerSet(s *nsSet) {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	if registry.sets == nil {
		registry.sets = make(map[*nsSet]struct{})
	}
	registry.sets[s] = struct{}{}
	if registry.sigs == nil {
		ch := make(chan os.Signal, 1)
		registry.sigs = ch
		signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
		go onSignal(ch)
	}
}

func unregisterSet(s *nsSet) {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	delete(registry.sets, s)
	if len(registry.sets) == 0 && registry.sigs != nil {
		signal.Stop(registry.sigs)
		close(registry.sigs)
		registry.sigs = nil
	}
}

func registerName(name string) {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	if registry.names == nil {
		registry.names = make(map[string]struct{})
	}
	registry.names[name] = struct{}{}
}

func unregisterName(name string) {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	delete(registry.names, name)
}

func isRegistered(name string) bool {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	_, ok := registry.names[name]
	return ok
}

// onSignal closes every open set, then restores the default disposition and
// re-raises the signal so the process still dies the way it was asked to.
func onSignal(ch chan os.Signal) {
	sig, ok := <-ch
	if !ok {
		return // the last set closed; handler removed
	}
	registry.mu.Lock()
	sets := make([]*nsSet, 0, len(registry.sets))
	for s := range registry.sets {
		sets = append(sets, s)
	}
	registry.mu.Unlock()
	for _, s := range sets {
		_ = s.close() // best effort: the process is going down
	}
	signal.Reset(sig)
	if sn, ok := sig.(syscall.Signal); ok {
		_ = syscall.Kill(os.Getpid(), sn)
	}
	os.Exit(1) // only reached if the re-raised signal was ignored
}
