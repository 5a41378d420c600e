package addr

import "syscall"

// interfaceIPs lists the addresses of this machine's network interfaces
// (IPv4 ones in their IPv4-mapped form), asked of the kernel over
// netlink as package net's InterfaceAddrs does, without linking package
// net (see rfc5322.go). An error gives no addresses: the literal is
// then taken as remote, as it was before interfaces were asked.
func interfaceIPs() [][16]byte {
	rib, err := syscall.NetlinkRIB(syscall.RTM_GETADDR, syscall.AF_UNSPEC)
	if err != nil {
		return nil
	}
	msgs, err := syscall.ParseNetlinkMessage(rib)
	if err != nil {
		return nil
	}
	var out [][16]byte
	for _, m := range msgs {
		if m.Header.Type == syscall.NLMSG_DONE {
			break
		}
		if m.Header.Type != syscall.RTM_NEWADDR || len(m.Data) < syscall.SizeofIfAddrmsg {
			continue
		}
		family := m.Data[0] // IfAddrmsg.Family
		attrs, err := syscall.ParseNetlinkRouteAttr(&m)
		if err != nil {
			continue
		}
		// On a point-to-point link IFA_ADDRESS is the peer's address
		// and IFA_LOCAL this machine's; elsewhere they are the same.
		var addr, local []byte
		for _, a := range attrs {
			switch a.Attr.Type {
			case syscall.IFA_ADDRESS:
				addr = a.Value
			case syscall.IFA_LOCAL:
				local = a.Value
			}
		}
		if local != nil {
			addr = local
		}
		var ip [16]byte
		switch {
		case family == syscall.AF_INET && len(addr) == 4:
			ip[10], ip[11] = 0xff, 0xff
			copy(ip[12:], addr)
		case family == syscall.AF_INET6 && len(addr) == 16:
			copy(ip[:], addr)
		default:
			continue
		}
		out = append(out, ip)
	}
	return out
}
