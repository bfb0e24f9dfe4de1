package node

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/kenv-dev/kenv/env/access"
)

// dnsService is the Service pods find the cluster's DNS at, by custom.
const dnsService = "kube-dns"

// ServeDNS makes the kube-dns Service at serviceIP send the pods' queries
// to the CoreDNS that answers at address, on this machine: a Service
// without a selector, whose endpoints kenv keeps. Done again at every up.
func ServeDNS(ctx context.Context, kubeconfig, serviceIP, address string) error {
	client, err := access.Client(kubeconfig)
	if err != nil {
		return err
	}
	ports := []corev1.ServicePort{
		{Name: "dns", Protocol: corev1.ProtocolUDP, Port: 53},
		{Name: "dns-tcp", Protocol: corev1.ProtocolTCP, Port: 53},
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: dnsService, Namespace: metav1.NamespaceSystem,
			Labels: map[string]string{"k8s-app": dnsService, "kubernetes.io/name": "CoreDNS"}},
		Spec: corev1.ServiceSpec{ClusterIP: serviceIP, Ports: ports},
	}
	if err := createOnce(ctx, client, svc); err != nil {
		return fmt.Errorf("Service %s: %w", dnsService, err)
	}
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: dnsService + "-kenv", Namespace: metav1.NamespaceSystem,
			Labels: map[string]string{discoveryv1.LabelServiceName: dnsService, discoveryv1.LabelManagedBy: "kenv"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{address}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}},
	}
	for _, p := range ports {
		slice.Ports = append(slice.Ports, discoveryv1.EndpointPort{Name: ptr.To(p.Name), Protocol: ptr.To(p.Protocol), Port: ptr.To(p.Port)})
	}
	slices := client.DiscoveryV1().EndpointSlices(metav1.NamespaceSystem)
	old, err := slices.Get(ctx, slice.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		_, err = slices.Create(ctx, slice, metav1.CreateOptions{})
	case err == nil:
		slice.ResourceVersion = old.ResourceVersion
		_, err = slices.Update(ctx, slice, metav1.UpdateOptions{})
	}
	if err != nil {
		return fmt.Errorf("the endpoints of %s: %w", dnsService, err)
	}
	return nil
}

// createOnce makes svc, or leaves it as it is when an earlier up made it:
// its address cannot change. (Made again, kube-apiserver would refuse its
// address as taken before it said the name is.)
func createOnce(ctx context.Context, client kubernetes.Interface, svc *corev1.Service) error {
	services := client.CoreV1().Services(svc.Namespace)
	_, err := services.Get(ctx, svc.Name, metav1.GetOptions{})
	if !apierrors.IsNotFound(err) {
		return err
	}
	_, err = services.Create(ctx, svc, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}
