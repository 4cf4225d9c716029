package control

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"syscall"

	"github.com/sockd/sockd/supervisor"
)

// Errors a Client returns, for the CLI's messages and exit codes.
var (
	ErrNotRunning   = errors.New("sockd is not running")
	ErrAccessDenied = errors.New("access denied")
)

// Client talks to a sockd control socket.
type Client struct {
	Path string
	hc   *http.Client
}

// NewClient returns a client of the control socket at path.
func NewClient(path string) *Client {
	var d net.Dialer
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return d.DialContext(ctx, "unix", path)
		},
		DisableCompression: true,
	}
	return &Client{Path: path, hc: &http.Client{Transport: tr}}
}

// APIError is an error response of the daemon.
type APIError struct {
	Status  int
	Message string
}

func (e *APIError) Error() string { return e.Message }

// Unwrap maps the status to the errors callers test for.
func (e *APIError) Unwrap() error {
	switch e.Status {
	case http.StatusNotFound:
		return supervisor.ErrNoSuchUnit
	case http.StatusConflict:
		return supervisor.ErrNotAllowed
	case http.StatusForbidden:
		return ErrAccessDenied
	}
	return nil
}

func (c *Client) do(ctx context.Context, method, path string, body any) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://sockd"+path, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		switch {
		case errors.Is(err, syscall.ENOENT), errors.Is(err, syscall.ECONNREFUSED):
			return nil, fmt.Errorf("%w (no daemon at %s)", ErrNotRunning, c.Path)
		case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
			return nil, fmt.Errorf("%w to %s: %v", ErrAccessDenied, c.Path, syscall.EACCES)
		}
		return nil, fmt.Errorf("%s: %w", c.Path, err)
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		var eb errorBody
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if json.Unmarshal(b, &eb) != nil || eb.Error == "" {
			eb.Error = fmt.Sprintf("%s: %s", resp.Status, bytes.TrimSpace(b))
		}
		return nil, &APIError{Status: resp.StatusCode, Message: eb.Error}
	}
	return resp, nil
}

func (c *Client) getJSON(ctx context.Context, path string, v any) error {
	resp, err := c.do(ctx, http.MethodGet, path, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	return nil
}

func (c *Client) post(ctx context.Context, path string, body any) error {
	resp, err := c.do(ctx, http.MethodPost, path, body)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

// Units returns every unit.
func (c *Client) Units(ctx context.Context) (Units, error) {
	var u Units
	return u, c.getJSON(ctx, "/v1/units", &u)
}

// Status returns every unit with its last n log entries.
func (c *Client) Status(ctx context.Context, n int) ([]Unit, error) {
	var u []Unit
	return u, c.getJSON(ctx, "/v1/status?n="+strconv.Itoa(n), &u)
}

// Unit returns one unit with its last n log entries.
func (c *Client) Unit(ctx context.Context, name string, n int) (Unit, error) {
	var u Unit
	return u, c.getJSON(ctx, "/v1/units/"+url.PathEscape(name)+"?n="+strconv.Itoa(n), &u)
}

// Action runs start, stop or restart on a unit.
func (c *Client) Action(ctx context.Context, action, name string) error {
	return c.post(ctx, "/v1/units/"+url.PathEscape(name)+"/"+action, nil)
}

// Reload makes the daemon re-read its unit files.
func (c *Client) Reload(ctx context.Context) error { return c.post(ctx, "/v1/reload", nil) }

// ResetFailed clears the failed state of the units (all when none named).
func (c *Client) ResetFailed(ctx context.Context, names ...string) error {
	return c.post(ctx, "/v1/reset-failed", ResetFailedRequest{Units: names})
}

// Log calls fn with the last n entries of unit (all kept when n < 0)
// and, with follow, every later entry until ctx is done or fn fails.
func (c *Client) Log(ctx context.Context, unit string, n int, follow bool, fn func(Entry) error) error {
	path := "/v1/units/" + url.PathEscape(unit) + "/log?n=" + strconv.Itoa(n)
	if follow {
		path += "&follow=1"
	}
	resp, err := c.do(ctx, http.MethodGet, path, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		var e Entry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return fmt.Errorf("log entry: %w", err)
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil && ctx.Err() == nil {
		return fmt.Errorf("log: %w", err)
	}
	return nil
}

// Metrics returns the Prometheus text exposition.
func (c *Client) Metrics(ctx context.Context) (string, error) {
	resp, err := c.do(ctx, http.MethodGet, "/metrics", nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}
