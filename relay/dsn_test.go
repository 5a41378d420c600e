package relay

import (
	"context"
	"slices"
	"testing"

	"github.com/emersion/go-smtp"

	"homepost/courier"
	"homepost/outbox"
)

// The sender's DSN request (sendmail -N, -R, -V) goes to a smarthost
// that offers DSN, as RET and ENVID on MAIL and NOTIFY on each RCPT, as
// Postfix passes them on; to one that does not, nothing is added and
// the message goes all the same.
func TestDSNRequestPassedOn(t *testing.T) {
	for _, offer := range []bool{true, false} {
		be := &backend{dsn: offer}
		addr := startServer(t, be, plainMode, nil)
		c := newClient(t, testConfig(t, "smtp://"+addr))
		m := outgoing("D1", "alice@laptop", sample, "bob@example.org", "carol@example.org")
		m.DSN = courier.DSNRequest{Notify: "success,failure", Ret: "hdrs", EnvID: "ENV-42"}
		res := c.Send(context.Background(), []*courier.Outgoing{m})
		status(t, res[0], outbox.Sent, outbox.Sent)
		got := be.received()
		if len(got) != 1 {
			t.Fatalf("offer DSN %v: server got %+v", offer, got)
		}
		r := got[0]
		want := []smtp.DSNNotify{smtp.DSNNotifySuccess, smtp.DSNNotifyFailure}
		if offer {
			if r.Ret != smtp.DSNReturnHeaders || r.EnvID != "ENV-42" || len(r.Notify) != 2 || !slices.Equal(r.Notify[0], want) || !slices.Equal(r.Notify[1], want) {
				t.Errorf("with DSN offered: RET %q ENVID %q NOTIFY %v", r.Ret, r.EnvID, r.Notify)
			}
		} else if r.Ret != "" || r.EnvID != "" || len(r.Notify[0]) != 0 {
			t.Errorf("without DSN offered: RET %q ENVID %q NOTIFY %v", r.Ret, r.EnvID, r.Notify)
		}
	}
	// NOTIFY=NEVER alone; a mix with NEVER, or nothing asked, sends none.
	if n := rcptDSN(courier.DSNRequest{Notify: "never"}); n == nil || !slices.Equal(n.Notify, []smtp.DSNNotify{smtp.DSNNotifyNever}) {
		t.Errorf("never: %+v", n)
	}
	if rcptDSN(courier.DSNRequest{Notify: "never,success"}) != nil || rcptDSN(courier.DSNRequest{}) != nil {
		t.Error("NOTIFY sent for a mix with never, or for no request")
	}
}
