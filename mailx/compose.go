package mailx

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
)

// composer reads the body of a message from a terminal, line by line,
// and runs tilde escapes. It is used only when standard input is a
// terminal (or with -~): from a pipe, every line is text.
type composer struct {
	*env
	d    *draft
	sess *session // set when composing from read mode: ~m and ~f quote
}

const tildeHelp = `-------------------- ~ ESCAPES ----------------------------
~.            end the message and send it (so does a line with only "."
              while dot is set, as it is by default)
~~text        a line starting with ~text
~b addrs      add Bcc recipients         ~c addrs   add Cc recipients
~t addrs      add To recipients          ~s text    set the Subject
~h            edit To, Subject, Cc, Bcc
~r file       read a file into the message (also ~< file)
~@ file       attach a file
~d            read the dead.letter file
~e, ~v        edit the message with $EDITOR / $VISUAL
~p            print the message so far
~m [msgs]     insert messages, quoted (read mode); ~M with all headers
~f [msgs]     insert messages unquoted (read mode); ~F with all headers
~:cmd, ~_cmd  run a mail command, e.g. ~:h or ~:p 2 (read mode)
~w file       write the message text to a file
~!cmd         run a shell command        ~|cmd      pipe the text through cmd
~q            abort, keeping the text in dead.letter
~x            abort without keeping the text
------------------------------------------------------------
`

// run reads the body until EOF, "~." or "."; it returns false when the
// message is aborted.
func (c *composer) run() bool {
	intr := 0
	esc := c.set.get("escape")
	if esc == "" {
		esc = "~"
	}
	esc = esc[:1]
	for {
		c.out.Flush()
		line, err := c.in.readLine()
		if err == errInterrupt {
			intr++
			if intr >= 2 {
				fmt.Fprintln(c.out)
				c.saveDead(c.d)
				return false
			}
			fmt.Fprintln(c.out, "\n(Interrupt -- one more to kill letter)")
			continue
		}
		if err == errHangup {
			// The text typed so far is kept (BSD mail's collhup).
			c.saveDead(c.d)
			return false
		}
		intr = 0
		if err == io.EOF {
			if c.in.tty {
				fmt.Fprintln(c.out, "EOT")
			}
			return true
		}
		if err != nil {
			c.warn("read message: %v", err)
			c.saveDead(c.d)
			return false
		}
		// "." alone ends the message from a terminal, and in read
		// mode, where the commands that follow must not become text,
		// unless dot is unset (s-nail's default: then it is text and
		// only EOF or "~." ends the message).
		if line == "." && c.set.isSet("dot") && (c.in.tty || c.opts.tilde || c.sess != nil) {
			if c.in.tty {
				fmt.Fprintln(c.out, "EOT")
			}
			return true
		}
		if !strings.HasPrefix(line, esc) || len(line) < len(esc)+1 {
			c.d.WriteString(line + "\n")
			continue
		}
		done, keep := c.escape(esc[0], line[len(esc)], strings.TrimSpace(line[len(esc)+1:]), line[len(esc):])
		if done {
			return keep
		}
	}
}

// escape runs one tilde escape; done ends the message, keep tells
// whether to send it.
func (c *composer) escape(esc, cmd byte, arg, rest string) (done, keep bool) {
	d := c.d
	switch cmd {
	case esc:
		d.WriteString(rest + "\n")
	case '.':
		return true, true
	case 'q':
		c.saveDead(d)
		return true, false
	case 'x':
		return true, false
	case '?':
		c.out.WriteString(tildeHelp)
	case 's':
		d.subject = arg
	case 't':
		d.to = addRecipients(d.to, arg)
	case 'c':
		d.cc = addRecipients(d.cc, arg)
	case 'b':
		d.bcc = addRecipients(d.bcc, arg)
	case 'h':
		c.editHeaders()
	case 'r', '<':
		if strings.HasPrefix(arg, "!") {
			c.pipeInto(arg[1:], nil)
			break
		}
		c.readFile(c.expandFolder(arg))
	case 'd':
		c.readFile(c.expandPath("~/dead.letter"))
	case '@', 'a':
		for _, p := range strings.Fields(arg) {
			p = c.expandPath(p)
			if _, err := os.Stat(p); err != nil {
				c.warn("%v", err)
				continue
			}
			d.attach = append(d.attach, attachment{path: p})
		}
	case 'e', 'v':
		c.edit(cmd == 'v')
	case 'p':
		c.printDraft()
	case 'w':
		c.writeDraft(c.expandFolder(arg))
	case '!':
		c.shell(arg)
	case '|':
		c.pipeInto(arg, d.bodyReader())
	case ':', '_':
		if c.sess == nil {
			fmt.Fprintln(c.out, "No mailbox is open: ~: runs commands only when composing in read mode.")
			break
		}
		c.sess.composeCommand(arg)
		fmt.Fprintln(c.out, "(continue)")
	case 'm', 'M', 'f', 'F':
		if c.sess == nil {
			fmt.Fprintln(c.out, "No messages to insert (not reading mail).")
			break
		}
		c.sess.insertMessages(d, arg, cmd)
	default:
		fmt.Fprintln(c.out, "Unknown tilde escape. (~? for help)")
	}
	return false, false
}

// readFile appends a file to the text as it reads it, ending its last
// line if it has no newline.
func (c *composer) readFile(path string) {
	f, err := os.Open(path)
	if err != nil {
		c.warn("%v", err)
		return
	}
	defer f.Close()
	start := c.d.bodyLen()
	lines := &lineCounter{w: c.d}
	if _, err := io.Copy(lines, f); err != nil {
		c.d.truncateBody(start)
		c.warn("%v", err)
		return
	}
	if lines.n > 0 && lines.last != '\n' {
		c.d.WriteString("\n")
	}
	fmt.Fprintf(c.out, "\"%s\" %d/%d\n", path, lines.lines(), lines.n)
}

// writeDraft is ~w: it writes the text so far to a file, as it reads
// it.
func (c *composer) writeDraft(path string) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		c.warn("%v", err)
		return
	}
	if _, err := io.Copy(f, c.d.bodyReader()); err != nil {
		f.Close()
		c.warn("%v", err)
		return
	}
	if err := f.Close(); err != nil {
		c.warn("%v", err)
	}
}

// prompt asks for a value, showing the old one.
func (c *composer) prompt(name, old string) string {
	fmt.Fprintf(c.out, "%s: ", name)
	if old != "" {
		fmt.Fprintf(c.out, "[%s] ", old)
	}
	c.out.Flush()
	v, err := c.in.readLine()
	if err != nil || v == "" {
		return old
	}
	return v
}

func (c *composer) editHeaders() {
	d := c.d
	d.to = addList(nil, c.prompt("To", strings.Join(d.to, ", ")))
	d.subject = c.prompt("Subject", d.subject)
	d.cc = addList(nil, c.prompt("Cc", strings.Join(d.cc, ", ")))
	d.bcc = addList(nil, c.prompt("Bcc", strings.Join(d.bcc, ", ")))
	fmt.Fprintln(c.out, "(continue)")
}

func (c *composer) printDraft() {
	d := c.d
	fmt.Fprintln(c.out, "-------\nMessage contains:")
	if len(d.to) > 0 {
		fmt.Fprintf(c.out, "To: %s\n", strings.Join(d.to, ", "))
	}
	if d.subject != "" {
		fmt.Fprintf(c.out, "Subject: %s\n", d.subject)
	}
	if len(d.cc) > 0 {
		fmt.Fprintf(c.out, "Cc: %s\n", strings.Join(d.cc, ", "))
	}
	if len(d.bcc) > 0 {
		fmt.Fprintf(c.out, "Bcc: %s\n", strings.Join(d.bcc, ", "))
	}
	for _, a := range d.attach {
		fmt.Fprintf(c.out, "Attachment: %s\n", a.path)
	}
	fmt.Fprintln(c.out)
	io.Copy(c.out, d.bodyReader())
	fmt.Fprintln(c.out, "(continue)")
}

// edit runs the editor (EDITOR, or VISUAL for ~v) on the text so far.
// When the editor fails the text stays as it was.
func (c *composer) edit(visual bool) {
	f, err := c.runEditor(c.editorFor(visual), c.d.bodyReader())
	if err != nil {
		c.warn("%v; the text is unchanged", err)
		return
	}
	defer f.Close()
	nd := &draft{}
	if err := nd.readBody(f); err != nil {
		nd.closeBody()
		c.warn("edit: %v; the text is unchanged", err)
		return
	}
	c.d.replaceBody(nd)
	fmt.Fprintln(c.out, "(continue)")
}

func (c *composer) shell(cmd string) {
	if err := c.runShell(cmd, ""); err != nil {
		c.warn("%v", err)
	}
	fmt.Fprintln(c.out, "!")
}

// pipeInto replaces (in nil: appends) the text with a command's output,
// which it takes as the command writes it. A command that fails leaves
// the text as it was.
func (c *composer) pipeInto(cmdline string, in io.Reader) {
	c.out.Flush()
	cmd := exec.Command(shellPath(), "-c", cmdline)
	cmd.Stderr = os.Stderr
	if in == nil {
		start := c.d.bodyLen()
		cmd.Stdout = c.d
		if err := cmd.Run(); err != nil {
			c.d.truncateBody(start)
			c.warn("%s: %v", cmdline, err)
			return
		}
		fmt.Fprintln(c.out, "(continue)")
		return
	}
	nd := &draft{}
	cmd.Stdin, cmd.Stdout = in, nd
	if err := cmd.Run(); err != nil {
		nd.closeBody()
		c.warn("%s: %v", cmdline, err)
		return
	}
	c.d.replaceBody(nd)
	fmt.Fprintln(c.out, "(continue)")
}

func shellPath() string {
	if s := os.Getenv("SHELL"); s != "" {
		return s
	}
	return "/bin/sh"
}

// runShell runs a command line with the terminal; arg is its $1.
func (e *env) runShell(cmdline, arg string) error {
	e.out.Flush()
	args := []string{"-c", cmdline}
	if arg != "" {
		args = append(args, "sh", arg)
	}
	cmd := exec.Command(shellPath(), args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	return cmd.Run()
}
