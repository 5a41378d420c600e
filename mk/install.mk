# Installing what goes with the binary: man pages, the systemd user units,
# the example configuration; uninstalling all of it; and the optional
# system-wide links. Included by the Makefile, whose install target runs
# install-extra after it installs the binary and its links.
#
#   make install                      ~/.local, no root
#   make uninstall                    removes exactly what install wrote
#
# The programs in BINDIR are installed by mk/install-bin.sh: each file and
# link replaces the old by rename; a name that is not homepost's is left
# alone (named); where no unit is (re)started, the background delivery of
# the old binary is ended and the new one started when mail waits (its
# lock and the outbox found where homepost check --paths says).
#   sudo make install-system          /usr/local, plus /usr/sbin/sendmail,
#                                     /usr/lib/sendmail and /usr/bin/mail(x)
#                                     where free
#   sudo make uninstall-system

MANDIR ?= $(PREFIX)/share/man
DOCDIR ?= $(PREFIX)/share/doc/homepost
# The user's systemd unit directory; evaluated by the shell, so that
# XDG_CONFIG_HOME is honoured.
UNITDIR ?= $${XDG_CONFIG_HOME:-$$HOME/.config}/systemd/user
SYSTEM_PREFIX ?= /usr/local
# Prefixes the system paths that install-system links, and the
# /usr/sbin/sendmail that install looks for (tests only).
LINK_ROOT ?=
MANPAGES = $(wildcard man/*.[1-8])
# homepost-smtp.socket is installed but not enabled: see homepost(1).
UNITS = homepost.service homepost-notify@.service homepost-smtp.socket

.PHONY: install-extra next-steps uninstall install-system uninstall-system

install-extra:
	@set -e; for m in $(MANPAGES); do \
		s=$${m##*.}; d="$(MANDIR)/man$$s"; \
		install -d "$$d"; \
		install -m 0644 "$$m" "$$d/.$${m##*/}.tmp"; mv -f "$$d/.$${m##*/}.tmp" "$$d/$${m##*/}"; \
	done
	@set -e; d="$(UNITDIR)"; install -d "$$d"; \
	bin="$(BINDIR)"; q=; case $$bin in *[[:space:]]*) q='"';; esac; \
	esc=$$(printf '%s\n' "$$bin" | sed -e 's/[\\|&]/\\&/g' -e 's/%/%%/g'); \
	for u in $(UNITS); do \
		sed "s|@BINDIR@/\([^ ]*\)|$$q$$esc/\1$$q|g" "systemd/$$u" > "$$d/.$$u.tmp"; \
		chmod 0644 "$$d/.$$u.tmp"; mv -f "$$d/.$$u.tmp" "$$d/$$u"; \
	done; \
	echo "installed the man pages under $(MANDIR), the units in $$d"
	@set -e; d="$(DOCDIR)"; install -d "$$d"; \
	install -m 0644 config.example.toml "$$d/.config.example.toml.tmp"; \
	mv -f "$$d/.config.example.toml.tmp" "$$d/config.example.toml"

# next-steps says what is left to do on this host and nothing else.
# AGENT is what install found: running (it started the agent), stopped
# (a systemd user session runs, START=no), none (no session: sendmail
# delivers by itself, unless deliver_without_agent = false (homepost
# check --without-agent), when only an agent does; a listener named in
# [smtp] needs an agent started by hand or by cron, and homepost check --crontab prints the line, which
# starts the agent then, else homepost flush) or system (install-system: each user's session
# starts it).
next-steps:
	@echo; n=0; \
	case "$(AGENT)" in \
	running) echo "homepost: the agent runs (systemctl --user status homepost)";; \
	none) echo "homepost: no systemd user session on this host, so install starts no agent:"; \
	      if [ "$$("$(BINDIR)/homepost" check --without-agent 2>/dev/null)" = nothing ]; then \
	      echo "  deliver_without_agent = false, so sendmail starts no background delivery either: mail waits in the"; \
	      echo "  queue until you start homepost agent (and leave it running), or run homepost flush, which delivers it"; \
	      echo "  once. For the agent to start after a reboot too, add the line that homepost check --crontab prints"; \
	      echo "  to your crontab."; \
	      else \
	      echo "  sendmail starts a background delivery itself after each message."; \
	      case $$("$(BINDIR)/homepost" check --crontab 2>/dev/null) in \
	      *" agent >>"*) echo "  Your [smtp] names a listener, which only a running agent opens (a background delivery never"; \
	                     echo "  listens): start homepost agent, and for it to listen after a reboot too, add the line that"; \
	                     echo "  homepost check --crontab prints to your crontab.";; \
	      *) echo "  For mail to move after a reboot too, add the line that homepost check --crontab prints to your crontab.";; \
	      esac; \
	      fi;; \
	esac; \
	order=; case ":$$PATH:" in \
	*":$(BINDIR):"*) \
		if report=$$(sh mk/install-bin.sh path "$(BINDIR)"); then \
			echo "homepost: $(BINDIR) is on your PATH: sendmail, mail and mailq now run homepost"; \
		else \
			echo "homepost: $(BINDIR) is on your PATH, but not every name runs homepost:"; \
			echo "$$report"; \
			case $$report in *"comes before"*) order=1;; esac; \
		fi;; \
	esac; \
	if [ ! -e "$(LINK_ROOT)/usr/sbin/sendmail" ] && [ ! -L "$(LINK_ROOT)/usr/sbin/sendmail" ]; then \
		echo "homepost: /usr/sbin/sendmail does not exist: cron (Debian's, cronie) and sudo mail through that path only,"; \
		echo "  whatever PATH says, and drop what they would mail. Wrap cron jobs: MAILTO=\"\" and homepost cron -- JOB"; \
		echo "  (homepost cron --help), or have root run make install-system, which links it to homepost."; \
	fi; \
	echo "Next steps:"; \
	case "$(AGENT)" in \
	stopped) n=$$((n+1)); echo "  $$n. start the agent:  systemctl --user enable --now homepost";; \
	system) n=$$((n+1)); echo "  $$n. each user starts the agent:  systemctl --user enable --now homepost"; \
	        echo "     (or, for all users at once:  systemctl --global enable homepost)";; \
	esac; \
	case ":$$PATH:" in \
	*":$(BINDIR):"*) ;; \
	*) n=$$((n+1)); echo "  $$n. $(BINDIR) is NOT on your PATH: add it, e.g. in ~/.profile:"; \
	   echo "       PATH=\"$(BINDIR):\$$PATH\"";; \
	esac; \
	if [ -n "$$order" ]; then n=$$((n+1)); echo "  $$n. put $(BINDIR) first on your PATH, e.g. in ~/.profile:"; \
	   echo "       PATH=\"$(BINDIR):\$$PATH\""; fi; \
	needs="lingering, a relay"; [ "$(AGENT)" != none ] || needs="a relay"; \
	n=$$((n+1)); echo "  $$n. homepost check tells what else mail needs here ($$needs)"

# uninstall removes the files install wrote, and the programs and links
# in BINDIR only while they are homepost's; it ends the background
# delivery and says where mail still waits. A unit that was enabled in this unit
# directory is disabled first, so that no dangling link is left.
uninstall:
	@d="$(UNITDIR)"; \
	if [ -e "$$d/default.target.wants/homepost.service" ] || [ -L "$$d/default.target.wants/homepost.service" ]; then \
		systemctl --user disable --now homepost.service >/dev/null 2>&1 || true; \
		rm -f "$$d/default.target.wants/homepost.service"; \
	fi; \
	if [ -e "$$d/sockets.target.wants/homepost-smtp.socket" ] || [ -L "$$d/sockets.target.wants/homepost-smtp.socket" ]; then \
		systemctl --user disable --now homepost-smtp.socket >/dev/null 2>&1 || true; \
		rm -f "$$d/sockets.target.wants/homepost-smtp.socket"; \
	fi; \
	for u in $(UNITS); do rm -f "$$d/$$u"; done; \
	rmdir "$$d" 2>/dev/null || true; \
	systemctl --user daemon-reload >/dev/null 2>&1 || true
	@sh mk/install-bin.sh stop "$(BINDIR)"
	@sh mk/install-bin.sh uninstall "$(BINDIR)" $(LINKS)
	@for m in $(MANPAGES); do \
		s=$${m##*.}; rm -f "$(MANDIR)/man$$s/$${m##*/}"; rmdir "$(MANDIR)/man$$s" 2>/dev/null || true; \
	done
	rm -f "$(DOCDIR)/config.example.toml"
	@rmdir "$(DOCDIR)" 2>/dev/null || true

# install-system installs for every user under SYSTEM_PREFIX (the units
# in its lib/systemd/user, where every user's systemd finds them), then
# links /usr/sbin/sendmail, /usr/lib/sendmail (where /usr/lib exists),
# /usr/bin/mail and /usr/bin/mailx to homepost where no other mail
# program owns them, so that cron, atd and sudo reach each user's own
# outbox. Nothing is setuid.
install-system:
	@[ "$$(id -u)" = 0 ] || { echo "install-system: run it as root (sudo make install-system)" >&2; exit 1; }
	$(MAKE) install PREFIX="$(SYSTEM_PREFIX)" UNITDIR="$(SYSTEM_PREFIX)/lib/systemd/user" START=no NEXT_STEPS=no
	sh mk/link-system.sh link "$(SYSTEM_PREFIX)/bin/homepost" "$(LINK_ROOT)"
	@$(MAKE) --no-print-directory next-steps AGENT=system PREFIX="$(SYSTEM_PREFIX)" BINDIR="$(SYSTEM_PREFIX)/bin"

uninstall-system:
	@[ "$$(id -u)" = 0 ] || { echo "uninstall-system: run it as root" >&2; exit 1; }
	sh mk/link-system.sh unlink "$(SYSTEM_PREFIX)/bin/homepost" "$(LINK_ROOT)"
	$(MAKE) uninstall PREFIX="$(SYSTEM_PREFIX)" UNITDIR="$(SYSTEM_PREFIX)/lib/systemd/user"
