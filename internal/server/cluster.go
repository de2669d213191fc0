package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/baton-run/baton/event"
	"github.com/baton-run/baton/runtime"
)

// Cluster membership and overflow.
//
// Every node writes a heartbeat (its address, load and loaded functions)
// into the KV bucket baton_nodes every HeartbeatInterval; the bucket's TTL
// forgets a node that stopped writing. Every node watches the bucket, so it
// knows its peers without a coordinator. A synchronous call that finds
// every local instance busy is sent to the least-loaded peer over NATS
// request/reply on that peer's subject baton.node.<id>.invoke.

const (
	nodesBucket = "baton_nodes"
	// nodeTTL is how long a node stays listed after its last heartbeat.
	nodeTTL = 10 * time.Second
)

// NodeInfo is one node's heartbeat, as listed by GET /api/v1/nodes.
type NodeInfo struct {
	ID        string    `json:"id"`
	HTTP      string    `json:"http"`
	Version   string    `json:"version"`
	Started   time.Time `json:"started"`
	Heartbeat time.Time `json:"heartbeat"`
	Live      int       `json:"live"`
	Busy      int       `json:"busy"`
	Queued    int       `json:"queued"`
	Functions []string  `json:"functions"`
}

type cluster struct {
	s       *Server
	kv      jetstream.KeyValue
	started time.Time

	mu    sync.RWMutex
	peers map[string]NodeInfo
}

func (s *Server) startCluster(ctx context.Context, js jetstream.JetStream) error {
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      nodesBucket,
		Description: "baton node heartbeats",
		TTL:         nodeTTL,
		Storage:     jetstream.MemoryStorage,
	})
	if err != nil {
		return fmt.Errorf("opening KV bucket %s: %w", nodesBucket, err)
	}
	c := &cluster{s: s, kv: kv, started: time.Now().UTC(), peers: map[string]NodeInfo{}}
	s.cluster.Store(c)
	sub, err := s.nc.Subscribe(invokeSubject(s.nodeID), c.serveOverflow)
	if err != nil {
		return fmt.Errorf("subscribing to %s: %w", invokeSubject(s.nodeID), err)
	}
	w, err := kv.WatchAll(s.runCtx)
	if err != nil {
		_ = sub.Unsubscribe()
		return fmt.Errorf("watching nodes: %w", err)
	}
	c.heartbeat(ctx)
	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		defer func() { _ = w.Stop() }()
		for {
			select {
			case <-s.runCtx.Done():
				return
			case e, ok := <-w.Updates():
				if !ok {
					return
				}
				if e != nil {
					c.update(e)
				}
			}
		}
	}()
	go func() {
		defer s.wg.Done()
		defer func() { _ = sub.Unsubscribe() }()
		t := time.NewTicker(s.cfg.HeartbeatInterval)
		defer t.Stop()
		for {
			select {
			case <-s.runCtx.Done():
				// Leave the cluster at once rather than after the TTL.
				dctx, cancel := context.WithTimeout(context.Background(), time.Second)
				_ = c.kv.Delete(dctx, nodeKey(s.nodeID))
				cancel()
				return
			case <-t.C:
				c.heartbeat(s.runCtx)
			}
		}
	}()
	return nil
}

func nodeKey(id string) string       { return "node." + id }
func invokeSubject(id string) string { return "baton.node." + id + ".invoke" }

func (c *cluster) update(e jetstream.KeyValueEntry) {
	id := e.Key()[len("node."):]
	c.mu.Lock()
	defer c.mu.Unlock()
	if e.Operation() != jetstream.KeyValuePut {
		delete(c.peers, id)
		return
	}
	var n NodeInfo
	if json.Unmarshal(e.Value(), &n) == nil {
		c.peers[id] = n
	}
}

func (c *cluster) heartbeat(ctx context.Context) {
	s := c.s
	n := NodeInfo{ID: s.nodeID, HTTP: s.HTTPAddr(), Version: Version, Started: c.started, Heartbeat: time.Now().UTC()}
	s.mu.RLock()
	for k, f := range s.loaded {
		st := f.Stats()
		n.Live += st.Live
		n.Busy += st.Busy
		n.Queued += st.Queued
		n.Functions = append(n.Functions, k.name+":"+strconv.Itoa(k.version))
	}
	s.mu.RUnlock()
	sort.Strings(n.Functions)
	b, _ := json.Marshal(n)
	if _, err := c.kv.Put(ctx, nodeKey(s.nodeID), b); err != nil && ctx.Err() == nil {
		s.log.Warn("heartbeat failed", "err", err)
	}
}

// nodes lists the live nodes, this one first.
func (c *cluster) nodes() []NodeInfo {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]NodeInfo, 0, len(c.peers))
	for _, n := range c.peers {
		if time.Since(n.Heartbeat) < nodeTTL {
			out = append(out, n)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if (out[i].ID == c.s.nodeID) != (out[j].ID == c.s.nodeID) {
			return out[i].ID == c.s.nodeID
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// pickPeer chooses the peer to overflow to: the least busy live node other
// than this one. It is a pure function of the heartbeats.
func pickPeer(self string, nodes []NodeInfo) (NodeInfo, bool) {
	var best NodeInfo
	found := false
	for _, n := range nodes {
		if n.ID == self {
			continue
		}
		if !found || n.Busy+n.Queued < best.Busy+best.Queued || (n.Busy+n.Queued == best.Busy+best.Queued && n.ID < best.ID) {
			best, found = n, true
		}
	}
	return best, found
}

// overflowRequest is a synchronous call forwarded to another node.
type overflowRequest struct {
	Ref    string      `json:"ref"`
	Method string      `json:"method"`
	Path   string      `json:"path"`
	Query  string      `json:"query"`
	Header http.Header `json:"header"`
	Data   []byte      `json:"data"`
	ID     string      `json:"id"`
	Hops   int         `json:"hops"`
	// Source, Type and Subject describe the event of a trigger (empty: an
	// HTTP request to /fn/).
	Source  string `json:"source,omitempty"`
	Type    string `json:"type,omitempty"`
	Subject string `json:"subject,omitempty"`
	// EventID, Time and Attempt are the event's own (async attempts).
	EventID string    `json:"eventId,omitempty"`
	Time    time.Time `json:"time,omitzero"`
	Attempt int       `json:"attempt,omitempty"`
}

type overflowReply struct {
	Status  int         `json:"status"`
	Header  http.Header `json:"header,omitempty"`
	Body    []byte      `json:"body,omitempty"`
	Code    event.Code  `json:"code,omitempty"`
	Message string      `json:"message,omitempty"`
	Node    string      `json:"node"`
	Version int         `json:"version"`
}

// overflow sends a call that found this node busy to a peer. ok is false
// when there is no peer to send it to.
func (c *cluster) overflow(ctx context.Context, req *overflowRequest, timeout time.Duration) (*overflowReply, bool, error) {
	peer, ok := pickPeer(c.s.nodeID, c.nodes())
	if !ok || req.Hops > 0 {
		return nil, false, nil
	}
	req.Hops++
	b, err := json.Marshal(req)
	if err != nil {
		return nil, true, err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	msg, err := c.s.nc.RequestWithContext(ctx, invokeSubject(peer.ID), b)
	if err != nil {
		if errors.Is(err, nats.ErrNoResponders) {
			return nil, false, nil // the peer just left
		}
		return nil, true, event.Errorf(event.CodeUnavailable, "forwarding to node %s: %v", peer.ID, err)
	}
	var rep overflowReply
	if err := json.Unmarshal(msg.Data, &rep); err != nil {
		return nil, true, fmt.Errorf("reading reply of node %s: %w", peer.ID, err)
	}
	return &rep, true, nil
}

// serveOverflow runs a call forwarded by another node.
func (c *cluster) serveOverflow(msg *nats.Msg) {
	s := c.s
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		var req overflowRequest
		rep := overflowReply{Node: s.nodeID}
		if err := json.Unmarshal(msg.Data, &req); err != nil {
			rep.Code, rep.Message = event.CodeBadRequest, err.Error()
		} else {
			res := s.invokeLocal(s.runCtx, &req)
			rep = *res
			rep.Node = s.nodeID
		}
		b, _ := json.Marshal(rep)
		_ = msg.Respond(b)
	}()
}

func (s *Server) handleNodes(w http.ResponseWriter, _ *http.Request) {
	if s.peers() == nil {
		writeError(w, event.Errorf(event.CodeUnavailable, "cluster membership is not running"))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"nodes": s.peers().nodes()})
}

// forward sends a call to a peer and writes its answer; false means there
// was no peer, and the caller answers with its own error.
func (s *Server) forward(w http.ResponseWriter, ctx context.Context, ref string, ev *event.Event, limits runtime.Limits) bool {
	req := &overflowRequest{Ref: ref, Method: ev.Method, Path: ev.Path, Query: ev.Query, Header: ev.Header, Data: ev.Data, ID: ev.InvocationID}
	rep, sent, err := s.peers().overflow(ctx, req, limits.Timeout+limits.QueueTimeout+time.Second)
	if !sent {
		return false
	}
	if err != nil {
		writeError(w, err)
		return true
	}
	h := w.Header()
	h.Set("X-Baton-Node", rep.Node)
	if rep.Code != "" {
		writeError(w, &event.Error{Code: rep.Code, Message: rep.Message, RetryAfter: time.Second})
		return true
	}
	for k, vs := range rep.Header {
		for _, v := range vs {
			h.Add(k, v)
		}
	}
	h.Set("X-Baton-Version", strconv.Itoa(rep.Version))
	h.Set("Content-Length", strconv.Itoa(len(rep.Body)))
	w.WriteHeader(rep.Status)
	_, _ = w.Write(rep.Body)
	return true
}

// invokeLocal runs a forwarded call on this node without forwarding again.
func (s *Server) invokeLocal(ctx context.Context, req *overflowRequest) *overflowReply {
	fail := func(err error) *overflowReply {
		var e *event.Error
		if !errors.As(err, &e) {
			e = &event.Error{Code: event.CodeInternal, Message: err.Error()}
		}
		return &overflowReply{Code: e.Code, Message: e.Message}
	}
	fn, v, err := s.lookup(req.Ref)
	if err != nil {
		return fail(err)
	}
	f, err := s.function(ctx, fn.Name, v)
	if err != nil {
		return fail(err)
	}
	ev := event.Event{
		ID: req.ID, Source: "http", Type: "baton.http.request", Subject: "/fn/" + req.Ref + req.Path,
		Time: time.Now(), Method: req.Method, Path: req.Path, Query: req.Query, Header: req.Header,
		Data: req.Data, InvocationID: req.ID,
	}
	if req.Source != "" {
		ev.Source, ev.Type, ev.Subject = req.Source, req.Type, req.Subject
	}
	if req.EventID != "" {
		ev.ID = req.EventID
	}
	if !req.Time.IsZero() {
		ev.Time = req.Time
	}
	ev.Attempt = req.Attempt
	var resp event.Response
	if err := f.Invoke(ctx, &ev, &resp); err != nil {
		return fail(err)
	}
	rep := &overflowReply{Status: resp.Status, Header: http.Header{}, Body: resp.Body, Version: v.Version}
	for _, hf := range resp.Header {
		rep.Header.Add(hf.Key, hf.Value)
	}
	return rep
}

// NodeID is this node's unique id.
func (s *Server) NodeID() string { return s.nodeID }

// peers is the node's cluster membership, nil until it has joined.
func (s *Server) peers() *cluster { return s.cluster.Load() }
