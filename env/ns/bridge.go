package ns

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/vishvananda/netlink"
)

// Up makes the bridge if it is absent, gives it Addr, and sets it up. Idempotent.
func (b Bridge) Up() error {
	if err := b.check(); err != nil {
		return err
	}
	link, err := b.link()
	if err != nil {
		return err
	}
	if link == nil {
		if err := netlink.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: b.Name}}); err != nil {
			return fmt.Errorf("make bridge %s: %w", b.Name, err)
		}
		if link, err = b.link(); err != nil {
			return err
		}
	}
	if err := netlink.AddrReplace(link, &netlink.Addr{IPNet: ipNet(b.Addr)}); err != nil {
		return fmt.Errorf("address bridge %s with %s: %w", b.Name, b.Addr, err)
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return fmt.Errorf("set bridge %s up: %w", b.Name, err)
	}
	return nil
}

// Down deletes the bridge (and with it the host routes through it); no error when absent.
func (b Bridge) Down() error {
	link, err := b.link()
	if err != nil || link == nil {
		return err
	}
	if err := netlink.LinkDel(link); err != nil {
		return fmt.Errorf("delete bridge %s: %w", b.Name, err)
	}
	return nil
}

// Route adds or replaces, on the host, a route to dst via the node address via, on the bridge.
func (b Bridge) Route(dst netip.Prefix, via netip.Addr) error {
	link, err := b.link()
	if err != nil {
		return err
	}
	if link == nil {
		return fmt.Errorf("route %s via %s: bridge %s is absent", dst, via, b.Name)
	}
	r := &netlink.Route{LinkIndex: link.Attrs().Index, Dst: ipNet(dst.Masked()), Gw: via.AsSlice()}
	if err := netlink.RouteReplace(r); err != nil {
		return fmt.Errorf("route %s via %s on bridge %s: %w", dst, via, b.Name, err)
	}
	return nil
}

// link is the bridge's link; nil when absent.
func (b Bridge) link() (netlink.Link, error) {
	link, err := netlink.LinkByName(b.Name)
	var absent netlink.LinkNotFoundError
	if errors.As(err, &absent) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("bridge %s: %w", b.Name, err)
	}
	if link.Type() != "bridge" {
		return nil, fmt.Errorf("bridge %s: the machine has a link of that name that is a %s, not a bridge", b.Name, link.Type())
	}
	return link, nil
}
