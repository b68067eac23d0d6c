package kubeadm

// The subset of kubeadm's configuration types hagen writes. Field names and
// tags follow cmd/kubeadm/app/apis/kubeadm/{v1beta4,v1beta3,v1alpha1};
// pointers and omitempty keep unset sections out of the output. The yaml
// tags mirror the json ones: the files are encoded directly with yaml.v3
// (field order, apiVersion and kind first), the json tags serve tests.

type typeMeta struct {
	APIVersion string `json:"apiVersion" yaml:"apiVersion"`
	Kind       string `json:"kind" yaml:"kind"`
}

// arg is v1beta4's {name, value} list entry; v1beta3 uses a map instead.
type arg struct {
	Name  string `json:"name" yaml:"name"`
	Value string `json:"value" yaml:"value"`
}

type apiEndpoint struct {
	AdvertiseAddress string `json:"advertiseAddress,omitempty" yaml:"advertiseAddress,omitempty"`
	BindPort         int    `json:"bindPort,omitempty" yaml:"bindPort,omitempty"`
}

type taint struct {
	Key    string `json:"key" yaml:"key"`
	Effect string `json:"effect" yaml:"effect"`
}

type nodeRegistration struct {
	Name string `json:"name,omitempty" yaml:"name,omitempty"`
	// Taints: nil lets kubeadm default (the control-plane taint); an empty
	// list registers the node without taints.
	Taints *[]taint `json:"taints,omitempty" yaml:"taints,omitempty"`
	// KubeletExtraArgs is []arg (v1beta4) or map[string]string (v1beta3).
	KubeletExtraArgs any `json:"kubeletExtraArgs,omitempty" yaml:"kubeletExtraArgs,omitempty"`
}

type bootstrapToken struct {
	Token       string   `json:"token" yaml:"token"`
	Description string   `json:"description,omitempty" yaml:"description,omitempty"`
	TTL         string   `json:"ttl,omitempty" yaml:"ttl,omitempty"`
	Groups      []string `json:"groups,omitempty" yaml:"groups,omitempty"`
	Usages      []string `json:"usages,omitempty" yaml:"usages,omitempty"`
}

type patches struct {
	Directory string `json:"directory" yaml:"directory"`
}

type initConfiguration struct {
	typeMeta         `yaml:",inline"`
	BootstrapTokens  []bootstrapToken `json:"bootstrapTokens,omitempty" yaml:"bootstrapTokens,omitempty"`
	NodeRegistration nodeRegistration `json:"nodeRegistration" yaml:"nodeRegistration"`
	LocalAPIEndpoint apiEndpoint      `json:"localAPIEndpoint" yaml:"localAPIEndpoint"`
	Patches          *patches         `json:"patches,omitempty" yaml:"patches,omitempty"`
}

type externalEtcd struct {
	Endpoints []string `json:"endpoints" yaml:"endpoints"`
	CAFile    string   `json:"caFile" yaml:"caFile"`
	CertFile  string   `json:"certFile" yaml:"certFile"`
	KeyFile   string   `json:"keyFile" yaml:"keyFile"`
}

type etcd struct {
	External *externalEtcd `json:"external" yaml:"external"`
}

type networking struct {
	ServiceSubnet string `json:"serviceSubnet" yaml:"serviceSubnet"`
	PodSubnet     string `json:"podSubnet" yaml:"podSubnet"`
	DNSDomain     string `json:"dnsDomain" yaml:"dnsDomain"`
}

type apiServer struct {
	CertSANs []string `json:"certSANs,omitempty" yaml:"certSANs,omitempty"`
}

type clusterConfiguration struct {
	typeMeta                    `yaml:",inline"`
	ClusterName                 string     `json:"clusterName" yaml:"clusterName"`
	KubernetesVersion           string     `json:"kubernetesVersion" yaml:"kubernetesVersion"`
	ControlPlaneEndpoint        string     `json:"controlPlaneEndpoint" yaml:"controlPlaneEndpoint"`
	CertificatesDir             string     `json:"certificatesDir" yaml:"certificatesDir"`
	ImageRepository             string     `json:"imageRepository,omitempty" yaml:"imageRepository,omitempty"`
	Networking                  networking `json:"networking" yaml:"networking"`
	Etcd                        etcd       `json:"etcd" yaml:"etcd"`
	APIServer                   apiServer  `json:"apiServer" yaml:"apiServer"`
	EncryptionAlgorithm         string     `json:"encryptionAlgorithm,omitempty" yaml:"encryptionAlgorithm,omitempty"`
	CertificateValidityPeriod   string     `json:"certificateValidityPeriod,omitempty" yaml:"certificateValidityPeriod,omitempty"`
	CACertificateValidityPeriod string     `json:"caCertificateValidityPeriod,omitempty" yaml:"caCertificateValidityPeriod,omitempty"`
}

type bootstrapTokenDiscovery struct {
	APIServerEndpoint string   `json:"apiServerEndpoint" yaml:"apiServerEndpoint"`
	Token             string   `json:"token" yaml:"token"`
	CACertHashes      []string `json:"caCertHashes" yaml:"caCertHashes"`
}

type discovery struct {
	BootstrapToken *bootstrapTokenDiscovery `json:"bootstrapToken" yaml:"bootstrapToken"`
}

type joinControlPlane struct {
	LocalAPIEndpoint apiEndpoint `json:"localAPIEndpoint" yaml:"localAPIEndpoint"`
}

type joinConfiguration struct {
	typeMeta         `yaml:",inline"`
	NodeRegistration nodeRegistration  `json:"nodeRegistration" yaml:"nodeRegistration"`
	Discovery        discovery         `json:"discovery" yaml:"discovery"`
	ControlPlane     *joinControlPlane `json:"controlPlane,omitempty" yaml:"controlPlane,omitempty"`
	Patches          *patches          `json:"patches,omitempty" yaml:"patches,omitempty"`
}

// v1alpha1 (kubeadm 1.9-1.10): every master runs "kubeadm init" with its
// own MasterConfiguration; workers join with a NodeConfiguration.

type v1alpha1API struct {
	AdvertiseAddress     string `json:"advertiseAddress" yaml:"advertiseAddress"`
	ControlPlaneEndpoint string `json:"controlPlaneEndpoint,omitempty" yaml:"controlPlaneEndpoint,omitempty"`
	BindPort             int    `json:"bindPort" yaml:"bindPort"`
}

type v1alpha1Etcd struct {
	Endpoints []string `json:"endpoints" yaml:"endpoints"`
	CAFile    string   `json:"caFile" yaml:"caFile"`
	CertFile  string   `json:"certFile" yaml:"certFile"`
	KeyFile   string   `json:"keyFile" yaml:"keyFile"`
}

type masterConfiguration struct {
	typeMeta           `yaml:",inline"`
	API                v1alpha1API       `json:"api" yaml:"api"`
	Etcd               v1alpha1Etcd      `json:"etcd" yaml:"etcd"`
	Networking         networking        `json:"networking" yaml:"networking"`
	KubernetesVersion  string            `json:"kubernetesVersion" yaml:"kubernetesVersion"`
	NodeName           string            `json:"nodeName" yaml:"nodeName"`
	Token              string            `json:"token" yaml:"token"`
	TokenTTL           string            `json:"tokenTTL" yaml:"tokenTTL"`
	APIServerCertSANs  []string          `json:"apiServerCertSANs" yaml:"apiServerCertSANs"`
	APIServerExtraArgs map[string]string `json:"apiServerExtraArgs" yaml:"apiServerExtraArgs"`
	CertificatesDir    string            `json:"certificatesDir" yaml:"certificatesDir"`
	ImageRepository    string            `json:"imageRepository,omitempty" yaml:"imageRepository,omitempty"`
	NoTaintMaster      bool              `json:"noTaintMaster,omitempty" yaml:"noTaintMaster,omitempty"`
}

type nodeConfiguration struct {
	typeMeta                   `yaml:",inline"`
	DiscoveryTokenAPIServers   []string `json:"discoveryTokenAPIServers" yaml:"discoveryTokenAPIServers"`
	DiscoveryTokenCACertHashes []string `json:"discoveryTokenCACertHashes" yaml:"discoveryTokenCACertHashes"`
	Token                      string   `json:"token" yaml:"token"`
	NodeName                   string   `json:"nodeName" yaml:"nodeName"`
}
