package relay

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"homepost/courier"
	"homepost/outbox"
)

// BenchmarkRelay1000 sends 1000 messages of about 2 KiB to a loopback
// go-smtp server in one Send call and reports messages per second. The
// count of connections proves that they share one.
func BenchmarkRelay1000(b *testing.B) {
	be := &backend{}
	addr := startServer(b, be, plainMode, nil)
	c := newClient(b, testConfig(b, "smtp://"+addr))
	body := strings.Repeat("The quick brown fox jumps over the lazy dog.\n", 45)
	msgs := make([]*courier.Outgoing, 1000)
	for i := range msgs {
		msgs[i] = outgoing(fmt.Sprint(i), "alice@laptop",
			fmt.Sprintf("From: alice\nTo: r%d@example.org\nSubject: message %d\n\n%s", i, i, body),
			fmt.Sprintf("r%d@example.org", i))
	}
	b.ResetTimer()
	var elapsed time.Duration
	for range b.N {
		be.conns.Store(0)
		start := time.Now()
		res := c.Send(context.Background(), msgs)
		elapsed += time.Since(start)
		for i := range res {
			if res[i][0].Status != outbox.Sent {
				b.Fatalf("message %d: %s", i, res[i][0].Text())
			}
		}
		if n := be.conns.Load(); n != 1 {
			b.Fatalf("%d connections for 1000 messages", n)
		}
	}
	b.ReportMetric(float64(1000*b.N)/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(1, "conns/op")
}
