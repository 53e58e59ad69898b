// Command vectors writes JSON test vectors produced by Charon's own packages
// (and, for unsigned definitions, by the real `charon create dkg`), so the
// Rust library is checked against Charon itself rather than against a
// re-implementation. Every run makes fresh keys; nothing here is hand-edited.
//
// Usage: go run ./vectors -out DIR -charon PATH/TO/charon
package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	k1 "github.com/decred/dcrd/dcrec/secp256k1/v4"

	"github.com/obolnetwork/charon/app/eth1wrap"
	"github.com/obolnetwork/charon/app/k1util"
	"github.com/obolnetwork/charon/cluster"
	"github.com/obolnetwork/charon/eth2util"
	"github.com/obolnetwork/charon/eth2util/eip712"
	"github.com/obolnetwork/charon/eth2util/enr"
	"github.com/obolnetwork/charon/p2p"
)

// Every definition version Charon v1.10 supports, oldest first.
var versions = []string{
	"v1.0.0", "v1.1.0", "v1.2.0", "v1.3.0", "v1.4.0", "v1.5.0",
	"v1.6.0", "v1.7.0", "v1.8.0", "v1.9.0", "v1.10.0",
}

// Every network Charon v1.10 knows.
var networks = []eth2util.Network{
	eth2util.Mainnet, eth2util.Goerli, eth2util.Gnosis, eth2util.Chiado,
	eth2util.Sepolia, eth2util.Hoodi, eth2util.Holesky,
}

const operatorCount = 4

type enrVector struct {
	PrivateKey string `json:"private_key"`
	ENR        string `json:"enr"`
	PublicKey  string `json:"public_key"`
	PeerID     string `json:"peer_id"`
	PeerName   string `json:"peer_name"`
}

// verdict is what Charon's `dkg` says about a definition file: it unmarshals
// it, verifies the hashes, then the signatures (dkg/disk.go), and later
// refuses a fork version that names no known network (dkg/dkg.go).
type verdict struct {
	Valid bool `json:"valid"`
	// Stage is where Charon stopped: "parse", "hashes", "signatures",
	// "network" or "".
	Stage string `json:"stage"`
	Error string `json:"error"`
}

type operatorKeys struct {
	Address       string `json:"address"`
	EthPrivateKey string `json:"eth_private_key"`
	ENRPrivateKey string `json:"enr_private_key"`
	ENR           string `json:"enr"`
}

type definitionVector struct {
	Name           string          `json:"name"`
	Version        string          `json:"version"`
	Network        string          `json:"network"`
	ChainID        uint64          `json:"chain_id"`
	ForkVersion    string          `json:"fork_version"`
	ConfigHash     string          `json:"config_hash"`
	DefinitionHash string          `json:"definition_hash"`
	Operators      []operatorKeys  `json:"operators"`
	Charon         verdict         `json:"charon"`
	Definition     json.RawMessage `json:"definition"`
}

type tamperedVector struct {
	Name string `json:"name"`
	Base string `json:"base"`
	// Field names the JSON path that was changed.
	Field string `json:"field"`
	// Rehashed tells whether config_hash and definition_hash were recomputed
	// after the change, so that only the signatures can catch it.
	Rehashed   bool            `json:"rehashed"`
	Charon     verdict         `json:"charon"`
	Definition json.RawMessage `json:"definition"`
}

type unsignedVector struct {
	Name       string          `json:"name"`
	Network    string          `json:"network"`
	Command    []string        `json:"command"`
	ENRs       []string        `json:"enrs"`
	Charon     verdict         `json:"charon"`
	Definition json.RawMessage `json:"definition"`
}

func main() {
	out := flag.String("out", "", "directory to write the vectors into")
	charonBin := flag.String("charon", "", "path to the charon binary (for `charon create dkg`)")
	enrCount := flag.Int("enrs", 64, "number of key -> ENR pairs")
	flag.Parse()
	if *out == "" || *charonBin == "" {
		log.Fatal("usage: vectors -out DIR -charon PATH")
	}
	must(os.MkdirAll(*out, 0o755))

	var enrs []enrVector
	for range *enrCount {
		enrs = append(enrs, enrVectorFor(newKey()))
	}
	writeJSON(*out, "enr.json", enrs)

	var defs []definitionVector
	var tampered []tamperedVector
	for _, version := range versions {
		for _, network := range networks {
			def := signedDefinition(version, network)
			defs = append(defs, def)
			tampered = append(tampered, tamper(def)...)
			if shared, ok := sharedENR(def); ok {
				tampered = append(tampered, shared)
			}
		}
	}
	writeJSON(*out, "definitions.json", defs)
	writeJSON(*out, "tampered.json", tampered)
	writeJSON(*out, "unsigned.json", unsignedDefinitions(*charonBin))
	locks := lockVectors(defs, *charonBin)
	writeJSON(*out, "locks.json", locks)

	fmt.Printf("vectors: %d ENRs, %d signed definitions, %d tampered, %d locks, written to %s\n",
		len(enrs), len(defs), len(tampered), len(locks), *out)
}

func must(err error) {
	if err != nil {
		log.Fatal(err)
	}
}

func newKey() *k1.PrivateKey {
	key, err := k1.GeneratePrivateKey()
	must(err)
	return key
}

func enrVectorFor(key *k1.PrivateKey) enrVector {
	record, err := enr.New(key)
	must(err)
	id, err := p2p.PeerIDFromKey(key.PubKey())
	must(err)
	return enrVector{
		PrivateKey: hex.EncodeToString(key.Serialize()),
		ENR:        record.String(),
		PublicKey:  hex.EncodeToString(key.PubKey().SerializeCompressed()),
		PeerID:     id.String(),
		PeerName:   p2p.PeerName(id),
	}
}

func randomAddress() string {
	return eth2util.PublicKeyToAddress(newKey().PubKey())
}

func writeJSON(dir, name string, v any) {
	data, err := json.MarshalIndent(v, "", "  ")
	must(err)
	tmp := filepath.Join(dir, name+".tmp")
	must(os.WriteFile(tmp, data, 0o644))
	must(os.Rename(tmp, filepath.Join(dir, name)))
}

func charonVerdict(raw []byte) verdict {
	var def cluster.Definition
	if err := json.Unmarshal(raw, &def); err != nil {
		return verdict{Stage: "parse", Error: err.Error()}
	}
	if err := def.VerifyHashes(); err != nil {
		return verdict{Stage: "hashes", Error: err.Error()}
	}
	// Without --execution-client-rpc-endpoint, charon dkg verifies with the
	// no-op runner: a signature that does not recover fails ERC-1271 too.
	if err := def.VerifySignatures(eth1wrap.NewDefaultEthClientRunner("")); err != nil {
		return verdict{Stage: "signatures", Error: err.Error()}
	}
	if _, err := eth2util.ForkVersionToNetwork(def.ForkVersion); err != nil {
		return verdict{Stage: "network", Error: err.Error()}
	}
	// charon dkg reads a fully signed definition's operators as its peers
	// first: two operators with one ENR stop it there.
	if everyOperatorHasENR(def) {
		if _, err := def.Peers(); err != nil {
			return verdict{Stage: "peers", Error: err.Error()}
		}
	}
	return verdict{Valid: true}
}

func everyOperatorHasENR(def cluster.Definition) bool {
	for _, op := range def.Operators {
		if op.ENR == "" {
			return false
		}
	}
	return true
}

// sharedENR is the definition with operator 1 accepting it with operator
// 0's ENR, properly signed by operator 1 and rehashed: only Charon's peer
// check catches it.
func sharedENR(base definitionVector) (tamperedVector, bool) {
	var def cluster.Definition
	must(json.Unmarshal(base.Definition, &def))
	def.Operators[1].ENR = def.Operators[0].ENR
	if len(def.Operators[1].ENRSignature) > 0 {
		raw, err := hex.DecodeString(base.Operators[1].EthPrivateKey)
		must(err)
		def.Operators[1].ENRSignature = signEIP712(k1.PrivKeyFromBytes(raw), def, "ENR", "enr", def.Operators[1].ENR)
	}
	def, err := def.SetDefinitionHashes()
	if err != nil {
		return tamperedVector{}, false
	}
	raw, err := json.Marshal(def)
	must(err)
	return tamperedVector{
		Name: base.Name + " operators[1].enr shared with operators[0], re-signed", Base: base.Name,
		Field: "operators[1].enr", Rehashed: true, Charon: charonVerdict(raw), Definition: raw,
	}, true
}

// signEIP712 repeats Charon's unexported signer: EIP-712 with the "Obol"
// domain and the chain id of the definition's fork version, one string field.
func signEIP712(key *k1.PrivateKey, def cluster.Definition, primaryType, field, value string) []byte {
	chainID, err := eth2util.ForkVersionToChainID(def.ForkVersion)
	must(err)
	digest, err := eip712.HashTypedData(eip712.TypedData{
		Domain: eip712.Domain{Name: "Obol", Version: "1", ChainID: chainID},
		Type: eip712.Type{Name: primaryType, Fields: []eip712.Field{
			{Name: field, Type: eip712.PrimitiveString, Value: value},
		}},
	})
	must(err)
	sig, err := k1util.Sign(key, digest)
	must(err)
	return sig
}

func signedDefinition(version string, network eth2util.Network) definitionVector {
	var ops []cluster.Operator
	var keys []operatorKeys
	var ethKeys []*k1.PrivateKey
	for range operatorCount {
		ethKey, enrKey := newKey(), newKey()
		record, err := enr.New(enrKey)
		must(err)
		addr := eth2util.PublicKeyToAddress(ethKey.PubKey())
		ops = append(ops, cluster.Operator{Address: addr, ENR: record.String()})
		ethKeys = append(ethKeys, ethKey)
		keys = append(keys, operatorKeys{
			Address:       addr,
			EthPrivateKey: hex.EncodeToString(ethKey.Serialize()),
			ENRPrivateKey: hex.EncodeToString(enrKey.Serialize()),
			ENR:           record.String(),
		})
	}
	creatorKey := ethKeys[0]
	creator := cluster.Creator{Address: ops[0].Address}

	const numVals = 2
	var fees, withdrawals []string
	for range numVals {
		fees = append(fees, randomAddress())
		withdrawals = append(withdrawals, randomAddress())
	}
	opts := []func(*cluster.Definition){cluster.WithVersion(version)}
	legacy := version < "v1.5.0" && version != "v1.10.0"
	if legacy {
		opts = append(opts, cluster.WithLegacyVAddrs(fees[0], withdrawals[0]))
	}
	var depositAmounts []int
	if version == "v1.8.0" || version == "v1.9.0" || version == "v1.10.0" {
		depositAmounts = []int{16, 16}
	}
	var gasLimit uint
	consensus := ""
	if version == "v1.10.0" {
		gasLimit = 36000000
	}
	if version == "v1.9.0" || version == "v1.10.0" {
		consensus = "abft"
	}
	def, err := cluster.NewDefinition(fmt.Sprintf("vector %s %s", version, network.Name), numVals, 3,
		fees, withdrawals, network.GenesisForkVersionHex, creator, ops, depositAmounts, consensus, gasLimit, false,
		rand.Reader, opts...)
	must(err)

	// v1.0-v1.2 predate EIP-712 signatures; v1.3 signs with ConfigHash and
	// has no creator signature.
	if version >= "v1.3.0" || version == "v1.10.0" {
		configType, configField := "OperatorConfigHash", "operator_config_hash"
		if version == "v1.3.0" {
			configType, configField = "ConfigHash", "config_hash"
		}
		configHash := "0x" + hex.EncodeToString(def.ConfigHash)
		for i := range def.Operators {
			def.Operators[i].ConfigSignature = signEIP712(ethKeys[i], def, configType, configField, configHash)
			def.Operators[i].ENRSignature = signEIP712(ethKeys[i], def, "ENR", "enr", def.Operators[i].ENR)
		}
		if version != "v1.3.0" {
			def.Creator.ConfigSignature, err = cluster.SignClusterDefinitionHash(creatorKey, def)
			must(err)
		}
		def, err = def.SetDefinitionHashes()
		must(err)
	}
	raw, err := json.Marshal(def)
	must(err)
	chainID, err := eth2util.ForkVersionToChainID(def.ForkVersion)
	must(err)
	return definitionVector{
		Name:           version + "/" + network.Name,
		Version:        version,
		Network:        network.Name,
		ChainID:        chainID,
		ForkVersion:    network.GenesisForkVersionHex,
		ConfigHash:     "0x" + hex.EncodeToString(def.ConfigHash),
		DefinitionHash: "0x" + hex.EncodeToString(def.DefinitionHash),
		Operators:      keys,
		Charon:         charonVerdict(raw),
		Definition:     raw,
	}
}

type edit struct {
	field string
	apply func(doc map[string]any)
}

func flipHexByte(s any) string {
	str := s.(string)
	if len(str) < 4 {
		return "0x00"
	}
	b := []byte(str)
	if b[3] == '0' {
		b[3] = '1'
	} else {
		b[3] = '0'
	}
	return string(b)
}

func operator(doc map[string]any, i int) map[string]any {
	return doc["operators"].([]any)[i].(map[string]any)
}

func otherNetworkFork(current string) string {
	if current == eth2util.Hoodi.GenesisForkVersionHex {
		return eth2util.Sepolia.GenesisForkVersionHex
	}
	return eth2util.Hoodi.GenesisForkVersionHex
}

func edits(def definitionVector) []edit {
	otherENR := enrVectorFor(newKey()).ENR
	otherAddr := randomAddress()
	es := []edit{
		{"name", func(d map[string]any) { d["name"] = d["name"].(string) + " (changed)" }},
		{"uuid", func(d map[string]any) { d["uuid"] = "00000000-0000-0000-0000-000000000000" }},
		{"threshold", func(d map[string]any) { d["threshold"] = d["threshold"].(float64) + 1 }},
		{"num_validators", func(d map[string]any) { d["num_validators"] = d["num_validators"].(float64) + 1 }},
		{"fork_version", func(d map[string]any) { d["fork_version"] = otherNetworkFork(d["fork_version"].(string)) }},
		{"fork_version_unknown", func(d map[string]any) { d["fork_version"] = "0xdeadbeef" }},
		{"version_unsupported", func(d map[string]any) { d["version"] = "v1.11.0" }},
		{"operators[1].enr", func(d map[string]any) { operator(d, 1)["enr"] = otherENR }},
		{"operators[1].address", func(d map[string]any) { operator(d, 1)["address"] = otherAddr }},
		{"config_hash", func(d map[string]any) { d["config_hash"] = flipHexByte(d["config_hash"]) }},
		{"definition_hash", func(d map[string]any) { d["definition_hash"] = flipHexByte(d["definition_hash"]) }},
	}
	if _, ok := def.doc()["validators"]; ok {
		es = append(es,
			edit{"validators[0].withdrawal_address", func(d map[string]any) {
				d["validators"].([]any)[0].(map[string]any)["withdrawal_address"] = otherAddr
			}},
			edit{"validators[0].fee_recipient_address", func(d map[string]any) {
				d["validators"].([]any)[0].(map[string]any)["fee_recipient_address"] = otherAddr
			}})
	} else {
		es = append(es,
			edit{"withdrawal_address", func(d map[string]any) { d["withdrawal_address"] = otherAddr }},
			edit{"fee_recipient_address", func(d map[string]any) { d["fee_recipient_address"] = otherAddr }})
	}
	if def.Version >= "v1.3.0" || def.Version == "v1.10.0" {
		es = append(es,
			edit{"operators[1].config_signature", func(d map[string]any) {
				operator(d, 1)["config_signature"] = flipHexByte(operator(d, 1)["config_signature"])
			}},
			edit{"operators[1].enr_signature", func(d map[string]any) {
				operator(d, 1)["enr_signature"] = flipHexByte(operator(d, 1)["enr_signature"])
			}},
			edit{"operators[2].config_signature_removed", func(d map[string]any) {
				operator(d, 2)["config_signature"] = ""
			}},
			edit{"operators[0].enr_signature_swapped", func(d map[string]any) {
				operator(d, 0)["enr_signature"] = operator(d, 1)["enr_signature"]
			}})
	}
	if def.Version >= "v1.4.0" || def.Version == "v1.10.0" {
		es = append(es,
			edit{"creator.config_signature", func(d map[string]any) {
				c := d["creator"].(map[string]any)
				c["config_signature"] = flipHexByte(c["config_signature"])
			}},
			edit{"creator.address", func(d map[string]any) { d["creator"].(map[string]any)["address"] = otherAddr }})
	}
	return es
}

func (v definitionVector) doc() map[string]any {
	var doc map[string]any
	must(json.Unmarshal(v.Definition, &doc))
	return doc
}

func tamper(base definitionVector) []tamperedVector {
	var out []tamperedVector
	for _, e := range edits(base) {
		doc := base.doc()
		e.apply(doc)
		raw, err := json.Marshal(doc)
		must(err)
		out = append(out, tamperedVector{
			Name: base.Name + " " + e.field, Base: base.Name, Field: e.field,
			Charon: charonVerdict(raw), Definition: raw,
		})

		// The same change with fresh hashes: only the signatures can catch it.
		var def cluster.Definition
		if json.Unmarshal(raw, &def) != nil {
			continue
		}
		def, err = def.SetDefinitionHashes()
		if err != nil {
			continue
		}
		rehashed, err := json.Marshal(def)
		if err != nil {
			continue
		}
		out = append(out, tamperedVector{
			Name: base.Name + " " + e.field + " rehashed", Base: base.Name, Field: e.field, Rehashed: true,
			Charon: charonVerdict(rehashed), Definition: rehashed,
		})
	}
	return out
}

// unsignedDefinitions runs the real `charon create dkg` the way a creator
// without the Launchpad would: ENRs only, no operator addresses or signatures.
func unsignedDefinitions(charonBin string) []unsignedVector {
	var out []unsignedVector
	for _, network := range []string{"mainnet", "goerli", "gnosis", "chiado", "sepolia", "hoodi", "holesky"} {
		var enrs []string
		for range operatorCount {
			enrs = append(enrs, enrVectorFor(newKey()).ENR)
		}
		dir, err := os.MkdirTemp("", "vectors-create-dkg-")
		must(err)
		args := []string{
			"create", "dkg",
			"--name=unsigned " + network,
			"--network=" + network,
			"--num-validators=2",
			"--operator-enrs=" + strings.Join(enrs, ","),
			"--fee-recipient-addresses=" + randomAddress(),
			"--withdrawal-addresses=" + randomAddress(),
			"--output-dir=" + dir,
		}
		cmd := exec.Command(charonBin, args...)
		if output, err := cmd.CombinedOutput(); err != nil {
			log.Fatalf("charon %s: %v\n%s", strings.Join(args, " "), err, output)
		}
		raw, err := os.ReadFile(filepath.Join(dir, "cluster-definition.json"))
		must(err)
		must(os.RemoveAll(dir))
		out = append(out, unsignedVector{
			Name: "create-dkg/" + network, Network: network, Command: append([]string{"charon"}, args...),
			ENRs: enrs, Charon: charonVerdict(raw), Definition: raw,
		})
	}
	return out
}
