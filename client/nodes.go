package client

import (
	"context"
	"net/http"
	"time"
)

// Node is one live baton node, from its latest heartbeat.
type Node struct {
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

// Nodes lists the live nodes of the cluster, the answering node first.
func (c *Client) Nodes(ctx context.Context) ([]Node, error) {
	var out struct {
		Nodes []Node `json:"nodes"`
	}
	if _, err := c.call(ctx, request{method: http.MethodGet, path: "/api/v1/nodes", auth: true, timeout: DefaultTimeout}, &out); err != nil {
		return nil, err
	}
	if out.Nodes == nil {
		out.Nodes = []Node{}
	}
	return out.Nodes, nil
}
