package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// WatchHeartbeats calls seen with every agent's heartbeat in the bucket cadang_agents:
// those in it when the watch starts, then each one as it arrives (h nil: the key was
// deleted); loaded is called once the first ones are in. It returns when ctx ends or
// the controller is closed; a watch that breaks is started again. It lets the daemon
// know its agents without a read of the bucket per status answer or metrics scrape.
func (x *Controller) WatchHeartbeats(ctx context.Context, seen func(name string, h *Heartbeat, at time.Time), loaded func()) {
	first := true
	for ctx.Err() == nil && !x.nc.IsClosed() {
		w, err := x.kv.WatchAll(ctx)
		if err != nil {
			if errors.Is(err, nats.ErrConnectionClosed) || ctx.Err() != nil {
				return
			}
			x.log.Warn("cluster: watching the agents' heartbeats", "err", err)
		} else {
			x.drainWatch(ctx, w, seen, func() {
				if first {
					first = false
					loaded()
				}
			})
			_ = w.Stop()
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

// drainWatch passes w's entries to seen until w or ctx ends.
func (x *Controller) drainWatch(ctx context.Context, w jetstream.KeyWatcher, seen func(string, *Heartbeat, time.Time), loaded func()) {
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-w.Updates():
			switch {
			case !ok:
				return
			case e == nil: // the values there at the start are in
				loaded()
			case e.Operation() != jetstream.KeyValuePut:
				seen(e.Key(), nil, e.Created())
			default:
				var h Heartbeat
				if err := json.Unmarshal(e.Value(), &h); err != nil {
					x.log.Warn("cluster: a heartbeat that is not JSON", "agent", e.Key(), "err", err)
					continue
				}
				seen(e.Key(), &h, e.Created())
			}
		}
	}
}

// Sent is how many messages the controller's connection has published: a test's
// measure of what an operation costs on the wire.
func (x *Controller) Sent() uint64 { return x.nc.Stats().OutMsgs }
