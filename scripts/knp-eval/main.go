// knp-eval: kube-network-policies' own packet evaluation as a line protocol for kube-router's
// differential test. Each input line is one world as JSON; each output line the verdicts of its
// probes, in order: {"allowed":[true,false,...]} or {"error":"..."}.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"

	v1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/klog/v2"
	"sigs.k8s.io/kube-network-policies/pkg/networkpolicy"
)

type world struct {
	Namespaces []*v1.Namespace               `json:"namespaces"`
	Pods       []*v1.Pod                     `json:"pods"`
	Policies   []*networkingv1.NetworkPolicy `json:"policies"`
	Probes     []struct {
		Src      string `json:"src"`
		Dst      string `json:"dst"`
		Port     int    `json:"port"`
		Protocol string `json:"protocol"`
	} `json:"probes"`
}

func answer(line []byte) any {
	var w world
	if err := json.Unmarshal(line, &w); err != nil {
		return map[string]string{"error": err.Error()}
	}
	e, err := networkpolicy.NewKubeRouterEvaluator(w.Namespaces, w.Pods, w.Policies)
	if err != nil {
		return map[string]string{"error": err.Error()}
	}
	out := make([]bool, 0, len(w.Probes))
	for _, p := range w.Probes {
		src, dst := net.ParseIP(p.Src), net.ParseIP(p.Dst)
		if src == nil || dst == nil {
			return map[string]string{"error": fmt.Sprintf("bad probe %s → %s", p.Src, p.Dst)}
		}
		out = append(out, e.Allowed(src, dst, 40000, p.Port, v1.Protocol(p.Protocol)))
	}
	return map[string][]bool{"allowed": out}
}

func main() {
	// KNP_EVAL_V=2 prints the package's own trace of each evaluation on stderr.
	fs := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(fs)
	if v := os.Getenv("KNP_EVAL_V"); v != "" {
		_ = fs.Set("v", v)
	}
	klog.SetOutput(os.Stderr)
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 64<<20)
	enc := json.NewEncoder(os.Stdout)
	for in.Scan() {
		if err := enc.Encode(answer(in.Bytes())); err != nil {
			os.Exit(1)
		}
	}
}
