package agent

import (
	"encoding/json"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"
)

// The kubelet is no static pod: systemd runs it from a unit, which
// kubeadm's packages, kind's node image and minikube's all call
// kubelet.service. The agent takes its place by stopping the unit, and
// gives it back by starting it again: a record written before the stop
// says so, as for a manifest. What the kubelet ran with, its command line
// and environment from /proc and its configuration file, is saved aside
// first, since it cannot be read once the unit is stopped.

// Kubelet is the one component kenv swaps that no static pod runs: the
// node's systemd does.
const Kubelet = "kubelet"

// KubeletUnit is the systemd unit that runs the kubelet.
const KubeletUnit = "kubelet.service"

// started is what a unit's main process runs with: what the agent saves
// aside before it stops the unit.
type started struct {
	Unit string   `json:"unit"`
	Pid  int      `json:"pid"`
	Argv []string `json:"argv"`
	Env  []string `json:"env"`
	// Config is the file its --config names, and ConfigData its content.
	Config     string `json:"config,omitempty"`
	ConfigData string `json:"configData,omitempty"`
}

// Runner runs argv on the node and returns its output: on the node
// itself for the agent, over the transport for kenv, which reads the
// kubelet before anything of its own is on the node.
type Runner func(argv ...string) ([]byte, error)

// Local runs argv here.
func Local(argv ...string) ([]byte, error) {
	out, err := exec.Command(argv[0], argv[1:]...).Output()
	if ee, ok := err.(*exec.ExitError); ok && len(ee.Stderr) > 0 {
		err = fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, strings.TrimSpace(string(ee.Stderr)))
	}
	return out, err
}

// ReadKubelet reads, through run, what the node's kubelet runs with, as
// the agent saves it aside; it fails, with what to do, unless systemd
// runs the kubelet from KubeletUnit.
func ReadKubelet(run Runner) ([]byte, error) {
	init, err := run("cat", "/proc/1/comm")
	if err != nil {
		return nil, err
	}
	if comm := strings.TrimSpace(string(init)); comm != "systemd" {
		return nil, fmt.Errorf("the node's init (pid 1) is %s, not systemd: kenv swaps a kubelet that systemd runs from %s, "+
			"so that stopping and starting the unit brings the node's own back; a kubelet run otherwise is not swapped", comm, KubeletUnit)
	}
	show, err := run("systemctl", "show", "--property=MainPID,ActiveState,LoadState", KubeletUnit)
	if err != nil {
		return nil, err
	}
	props := map[string]string{}
	for _, line := range strings.Split(string(show), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			props[k] = v
		}
	}
	pid, _ := strconv.Atoi(props["MainPID"])
	switch {
	case props["LoadState"] != "loaded":
		return nil, fmt.Errorf("systemd has no %s on the node (%s): kenv swaps the kubelet that unit runs", KubeletUnit, props["LoadState"])
	case props["ActiveState"] != "active" || pid == 0:
		return nil, fmt.Errorf("%s is %s on the node: kenv swaps a running kubelet; start it (systemctl start %s) and check that the node is Ready", KubeletUnit, props["ActiveState"], KubeletUnit)
	}
	s := started{Unit: KubeletUnit, Pid: pid}
	for _, f := range []struct {
		name string
		to   *[]string
	}{{"cmdline", &s.Argv}, {"environ", &s.Env}} {
		raw, err := run("cat", fmt.Sprintf("/proc/%d/%s", pid, f.name))
		if err != nil {
			return nil, fmt.Errorf("read the kubelet's %s: %w", f.name, err)
		}
		if trimmed := strings.TrimRight(string(raw), "\x00"); trimmed != "" {
			*f.to = strings.Split(trimmed, "\x00")
		}
	}
	if len(s.Argv) == 0 {
		return nil, fmt.Errorf("the kubelet (pid %d) has no command line to read", pid)
	}
	if config, ok := flag(s.Argv[1:], "config"); ok {
		data, err := run("cat", config)
		if err != nil {
			return nil, fmt.Errorf("read the kubelet's --config: %w", err)
		}
		s.Config, s.ConfigData = config, string(data)
	}
	return json.Marshal(s)
}

// kubeletConfig is the part of a KubeletConfiguration the agent reads.
type kubeletConfig struct {
	Address            string `json:"address"`
	Port               *int   `json:"port"`
	HealthzBindAddress string `json:"healthzBindAddress"`
	HealthzPort        *int   `json:"healthzPort"`
}

// inspectKubelet reads content, what ReadKubelet saved, as the agent
// runs the kubelet in its place: the same command line and environment
// (as root), its ports, and its health check, the plain-HTTP healthz
// port on the node's loopback.
func inspectKubelet(content []byte) (Found, error) {
	var s started
	if err := json.Unmarshal(content, &s); err != nil || len(s.Argv) == 0 {
		return Found{}, fmt.Errorf("what kenv read of the kubelet is damaged (%v)", err)
	}
	var c kubeletConfig
	if s.ConfigData != "" {
		if err := yaml.Unmarshal([]byte(s.ConfigData), &c); err != nil {
			return Found{}, fmt.Errorf("the kubelet's --config %s: %v", s.Config, err)
		}
	}
	args := s.Argv[1:]
	serve := net.JoinHostPort(setting(args, "address", c.Address, "0.0.0.0"), setting(args, "port", portOf(c.Port), "10250"))
	healthz := net.JoinHostPort(setting(args, "healthz-bind-address", c.HealthzBindAddress, "127.0.0.1"), setting(args, "healthz-port", portOf(c.HealthzPort), "10248"))
	f := Found{Component: Kubelet, Unit: s.Unit, Image: s.Argv[0], Args: args, Env: s.Env, Ports: []string{serve}}
	if _, port, _ := net.SplitHostPort(healthz); port != "0" {
		f.Ports = append(f.Ports, healthz)
		f.Health = "http://" + loopback(healthz) + "/healthz"
	}
	return f, nil
}

// setting is a flag's value in args, else the configuration file's, else
// the default.
func setting(args []string, name, config, def string) string {
	if v, ok := flag(args, name); ok {
		return v
	}
	if config != "" {
		return config
	}
	return def
}

func portOf(p *int) string {
	if p == nil {
		return ""
	}
	return strconv.Itoa(*p)
}

// loopback is addr with an unspecified host made the loopback's.
func loopback(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); err == nil && (ip == nil || ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// stopUnit stops unit, and startUnit starts it, through the node's
// systemd; both return once systemd has done it.
func stopUnit(unit string) error {
	_, err := Local("systemctl", "stop", unit)
	return err
}

func startUnit(unit string) error {
	_, err := Local("systemctl", "start", unit)
	return err
}
