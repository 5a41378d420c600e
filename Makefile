# homepost — see README.md. PREFIX defaults to ~/.local: no root needed.
PREFIX ?= $(HOME)/.local
BINDIR ?= $(PREFIX)/bin
GO ?= go
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
# A static, pure-Go binary: the shim starts fast and runs from cron's
# minimal environment.
GOFLAGS_BUILD = -trimpath -tags osusergo,netgo -ldflags '-s -w -X main.version=$(VERSION)'
LINKS = sendmail send-mail mail mailx mailq newaliases
# START=no installs without enabling and starting the user unit.
START ?= yes

.PHONY: all build install test bench clean

all: build

build:
	CGO_ENABLED=0 $(GO) build $(GOFLAGS_BUILD) -o homepost .

install: build
	install -d $(BINDIR)
	install -m 0755 homepost $(BINDIR)/homepost
	for l in $(LINKS); do ln -sf homepost $(BINDIR)/$$l; done
	$(MAKE) --no-print-directory install-extra PREFIX="$(PREFIX)" BINDIR="$(BINDIR)"
	@if [ "$(START)" = yes ] && systemctl --user show-environment >/dev/null 2>&1; then \
		systemctl --user daemon-reload && systemctl --user enable homepost.service && \
		systemctl --user restart homepost.service && \
		echo "homepost: the agent runs (systemctl --user status homepost)"; \
	else \
		echo "homepost: no systemd user session: sendmail delivers in the background after each message"; \
	fi

test:
	$(GO) vet ./...
	$(GO) test -race -shuffle=on -count=1 ./...

bench: build
	$(GO) run ./test/bench -bin ./homepost
	$(GO) test -run '^$$' -bench . -benchtime 1x ./mailx/ ./relay/

include mk/install.mk

clean:
	rm -f homepost
