package server

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/weir-dev/weir/internal/problem"
)

// clientLimitListener bounds the open connections: max in all, past which new
// ones wait in the kernel's backlog (as netutil.LimitListener does), and
// perClient from one client address, past which a new connection is answered
// 429 and closed at once. Without the second bound one address could hold
// every slot, each for up to server.read_header_timeout or body_timeout, and
// keep reopening them.
type clientLimitListener struct {
	net.Listener
	perClient int
	sem       chan struct{}
	done      chan struct{}
	closeOnce sync.Once
	onRefuse  func()
	answer    string // to a refused connection

	mu   sync.Mutex
	open map[string]int

	// refusals bounds the goroutines answering refused connections; past it a
	// refused connection is closed without an answer.
	refusals chan struct{}
	wg       sync.WaitGroup
}

// refusalLinger is how long a refused connection is given to take its 429
// before it is closed: closing with the client's request unread would reset
// the connection and could discard the answer on its way.
const refusalLinger = time.Second

func newClientLimitListener(l net.Listener, max, perClient int, onRefuse func()) *clientLimitListener {
	return &clientLimitListener{
		Listener: l, perClient: perClient, onRefuse: onRefuse,
		sem: make(chan struct{}, max), done: make(chan struct{}),
		open: map[string]int{}, refusals: make(chan struct{}, 64),
		answer: tooManyConnections(perClient),
	}
}

// Accept waits for a free slot, then returns the next connection whose
// address is under its share.
func (l *clientLimitListener) Accept() (net.Conn, error) {
	for {
		select {
		case l.sem <- struct{}{}:
		case <-l.done:
			return nil, net.ErrClosed
		}
		c, err := l.Listener.Accept()
		if err != nil {
			<-l.sem
			return nil, err
		}
		client := clientAddr(c.RemoteAddr())
		l.mu.Lock()
		if l.open[client] >= l.perClient {
			l.mu.Unlock()
			<-l.sem
			l.refuse(c)
			continue
		}
		l.open[client]++
		l.mu.Unlock()
		return &limitedConn{Conn: c, release: func() { l.release(client) }}, nil
	}
}

func (l *clientLimitListener) release(client string) {
	l.mu.Lock()
	if l.open[client]--; l.open[client] <= 0 {
		delete(l.open, client)
	}
	l.mu.Unlock()
	<-l.sem
}

// refuse answers a connection over its address's share with a 429 problem.
func (l *clientLimitListener) refuse(c net.Conn) {
	if l.onRefuse != nil {
		l.onRefuse()
	}
	select {
	case l.refusals <- struct{}{}:
	default:
		_ = c.Close()
		return
	}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		defer func() { <-l.refusals }()
		_ = c.SetDeadline(time.Now().Add(refusalLinger))
		_, _ = io.WriteString(c, l.answer)
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
		// Read what the client sent until it closes or the linger ends, so
		// that the close does not reset the connection before it reads.
		_, _ = io.Copy(io.Discard, io.LimitReader(c, 64<<10))
		_ = c.Close()
	}()
}

// Close stops accepting; Accept calls waiting for a slot return.
func (l *clientLimitListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// wait returns when every refused connection has been closed.
func (l *clientLimitListener) wait() { l.wg.Wait() }

// clientAddr is the part of a remote address that identifies a client: an
// IPv4 address, or an IPv6 address's /64. A site gets at least a /64, so
// counting single IPv6 addresses would give one client 2^64 shares.
func clientAddr(a net.Addr) string {
	var ip net.IP
	if tcp, ok := a.(*net.TCPAddr); ok {
		ip = tcp.IP
	} else {
		host, _, err := net.SplitHostPort(a.String())
		if err != nil {
			return a.String()
		}
		if ip = net.ParseIP(host); ip == nil {
			return host
		}
	}
	if v4 := ip.To4(); v4 != nil {
		return v4.String()
	}
	return ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
}

// tooManyConnections is the whole HTTP answer to a refused connection, sent
// before its request is read.
func tooManyConnections(perClient int) string {
	p := problem.New(http.StatusTooManyRequests, "too-many-connections",
		"this client address already has "+strconv.Itoa(perClient)+
			" open connections (server.max_client_connections); close idle ones or retry later").
		WithField("server.max_client_connections")
	body, _ := json.Marshal(p)
	body = append(body, '\n')
	return "HTTP/1.1 429 Too Many Requests\r\n" +
		"Content-Type: application/problem+json\r\n" +
		"Retry-After: 1\r\n" +
		"Connection: close\r\n" +
		"Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + string(body)
}

// limitedConn gives its slot back when it is closed, once.
type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
