// Added to a build-time copy of sigs.k8s.io/kube-network-policies' pkg/networkpolicy by
// scripts/knp-eval/build.sh (kube-router's differential test; not part of that project). It only
// exposes the package's own packet evaluation over an in-memory set of objects.

package networkpolicy

import (
	"context"
	"net"

	v1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	npaclientfake "sigs.k8s.io/network-policy-api/pkg/client/clientset/versioned/fake"
	npainformers "sigs.k8s.io/network-policy-api/pkg/client/informers/externalversions"
)

// KubeRouterEvaluator answers "would this first packet be allowed" for one world of objects.
type KubeRouterEvaluator struct {
	c *Controller
}

// NewKubeRouterEvaluator loads the objects into the informers' stores of a controller that is never run.
func NewKubeRouterEvaluator(namespaces []*v1.Namespace, pods []*v1.Pod, policies []*networkingv1.NetworkPolicy) (*KubeRouterEvaluator, error) {
	client := fake.NewSimpleClientset()
	f := informers.NewSharedInformerFactory(client, 0)
	npaClient := npaclientfake.NewSimpleClientset()
	nf := npainformers.NewSharedInformerFactory(npaClient, 0)
	c, err := newController(client, f.Networking().V1().NetworkPolicies(), f.Core().V1().Namespaces(), f.Core().V1().Pods(), f.Core().V1().Nodes(), npaClient, nf.Policy().V1alpha1().AdminNetworkPolicies(), nf.Policy().V1alpha1().BaselineAdminNetworkPolicies(), Config{NodeName: "kube-router-eval", NRIdisabled: true, QueueID: 100, NFTableName: "unused"})
	if err != nil {
		return nil, err
	}
	// Without NRI the controller has no plugin and looks an address that is no pod up in it
	// (nil pointer): give it an empty one, as NRI with no pods would be.
	c.nriPlugin = &nriPlugin{podIPMap: map[string]string{}}
	for _, o := range namespaces {
		if err := f.Core().V1().Namespaces().Informer().GetStore().Add(o); err != nil {
			return nil, err
		}
	}
	for _, o := range pods {
		if err := f.Core().V1().Pods().Informer().GetStore().Add(o); err != nil {
			return nil, err
		}
	}
	for _, o := range policies {
		if err := f.Networking().V1().NetworkPolicies().Informer().GetStore().Add(o); err != nil {
			return nil, err
		}
	}
	return &KubeRouterEvaluator{c: c}, nil
}

// Allowed is the package's verdict for the first packet of a connection.
func (e *KubeRouterEvaluator) Allowed(src, dst net.IP, srcPort, dstPort int, proto v1.Protocol) bool {
	family := v1.IPv4Protocol
	if dst.To4() == nil {
		family = v1.IPv6Protocol
	}
	return e.c.evaluatePacket(context.Background(), packet{family: family, srcIP: src, dstIP: dst, srcPort: srcPort, dstPort: dstPort, proto: proto})
}
