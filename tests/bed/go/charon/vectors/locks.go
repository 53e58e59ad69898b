// Lock vectors: cluster locks of every version, signed with Charon's own
// BLS and k1 code (and, for v1.10, made by the real `charon create
// cluster`), then changed one field at a time. Each vector carries two
// verdicts reached with Charon's own functions:
//
//   - charon: what `charon run` says when it loads the lock
//     (cluster.LoadClusterLock: parse, VerifyHashes, VerifySignatures);
//   - deposits: whether every partial deposit verifies for the network
//     (deposit.MarshalDepositData, the check Charon runs before writing
//     deposit-data files) and matches the deposit message Charon would make
//     from the definition (deposit.NewMessage with the validator's withdrawal
//     address, amount and compounding), whether the amounts are the ones the
//     definition asks for, and whether the lock holds one validator per
//     definition slot with the definition's fee recipient in its builder
//     registration. Charon's lock loading skips these; a staker relies on
//     them before sending ETH.
package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"time"

	eth2p0 "github.com/attestantio/go-eth2-client/spec/phase0"
	k1 "github.com/decred/dcrd/dcrec/secp256k1/v4"

	"github.com/obolnetwork/charon/app/eth1wrap"
	"github.com/obolnetwork/charon/app/k1util"
	"github.com/obolnetwork/charon/cluster"
	"github.com/obolnetwork/charon/eth2util"
	"github.com/obolnetwork/charon/eth2util/deposit"
	"github.com/obolnetwork/charon/eth2util/registration"
	"github.com/obolnetwork/charon/tbls"
)

// The networks locks are made for: the two a staker most often uses, and
// one with its own fork schedule and genesis time.
var lockNetworks = []eth2util.Network{eth2util.Mainnet, eth2util.Hoodi, eth2util.Gnosis}

type lockVector struct {
	Name    string `json:"name"`
	Base    string `json:"base"`
	Version string `json:"version"`
	Network string `json:"network"`
	// Source is "generated" or "charon create cluster".
	Source string `json:"source"`
	// Field names what was changed ("" for an untouched lock).
	Field string `json:"field"`
	// Mode: "" untouched, "stale" (hash as before the change), "rehashed"
	// (lock hash recomputed, signatures as before) or "resigned" (lock hash
	// recomputed and signed again by every node and key share).
	Mode     string          `json:"mode"`
	Charon   verdict         `json:"charon"`
	Deposits verdict         `json:"deposits"`
	Lock     json.RawMessage `json:"lock"`
}

// signers are the keys that can sign a lock again after a change.
type signers struct {
	enrKeys []*k1.PrivateKey
	shares  [][]tbls.PrivateKey
}

func lockVectors(defs []definitionVector, charonBin string) []lockVector {
	var out []lockVector
	for _, def := range defs {
		if !slices.ContainsFunc(lockNetworks, func(n eth2util.Network) bool { return n.Name == def.Network }) {
			continue
		}
		lock, keys := signedLock(def)
		out = append(out, lockVariants(def.Name, def.Network, "generated", lock, &keys)...)
	}
	for _, network := range lockNetworks {
		for _, compounding := range []bool{false, true} {
			name, lock := createdLock(charonBin, network.Name, compounding)
			out = append(out, lockVariants(name, network.Name, "charon create cluster", lock, nil)...)
		}
	}
	return out
}

// signedLock is what a DKG of the definition would produce: per validator a
// BLS key split 3-of-4, partial deposits for the definition's amounts and a
// builder registration (as the version has them), the lock hash, the
// aggregate signature of every share and each node's k1 signature.
func signedLock(vector definitionVector) (cluster.Lock, signers) {
	var def cluster.Definition
	must(json.Unmarshal(vector.Definition, &def))
	var keys signers
	for _, op := range vector.Operators {
		raw, err := hex.DecodeString(op.ENRPrivateKey)
		must(err)
		keys.enrKeys = append(keys.enrKeys, k1.PrivKeyFromBytes(raw))
	}
	withdrawals, fees := def.WithdrawalAddresses(), def.FeeRecipientAddresses()
	var validators []cluster.DistValidator
	for i := range def.NumValidators {
		secret, err := tbls.GenerateSecretKey()
		must(err)
		pubkey, err := tbls.SecretToPublicKey(secret)
		must(err)
		split, err := tbls.ThresholdSplit(secret, uint(len(def.Operators)), uint(def.Threshold))
		must(err)
		var pubShares [][]byte
		var shares []tbls.PrivateKey
		for j := 1; j <= len(def.Operators); j++ {
			share, err := tbls.SecretToPublicKey(split[j])
			must(err)
			pubShares = append(pubShares, share[:])
			shares = append(shares, split[j])
		}
		keys.shares = append(keys.shares, shares)
		dv := cluster.DistValidator{PubKey: pubkey[:], PubShares: pubShares}
		if def.Version >= "v1.6.0" || def.Version == "v1.10.0" {
			for _, amount := range dkgDepositAmounts(def) {
				msg, err := deposit.NewMessage(eth2p0.BLSPubKey(pubkey), withdrawals[i], amount, def.Compounding)
				must(err)
				root, err := deposit.GetMessageSigningRoot(msg, vector.Network)
				must(err)
				sig, err := tbls.Sign(secret, root[:])
				must(err)
				dv.PartialDepositData = append(dv.PartialDepositData, cluster.DepositData{
					PubKey: msg.PublicKey[:], WithdrawalCredentials: msg.WithdrawalCredentials,
					Amount: int(msg.Amount), Signature: sig[:],
				})
			}
		}
		if def.Version >= "v1.7.0" || def.Version == "v1.10.0" {
			genesis, err := eth2util.ForkVersionToGenesisTime(def.ForkVersion)
			must(err)
			gasLimit := uint64(def.TargetGasLimit)
			if gasLimit == 0 {
				gasLimit = registration.DefaultGasLimit
			}
			msg, err := registration.NewMessage(eth2p0.BLSPubKey(pubkey), fees[i], gasLimit, genesis)
			must(err)
			root, err := registration.GetMessageSigningRoot(msg, eth2p0.Version(def.ForkVersion))
			must(err)
			sig, err := tbls.Sign(secret, root[:])
			must(err)
			dv.BuilderRegistration = cluster.BuilderRegistration{
				Message: cluster.Registration{
					FeeRecipient: msg.FeeRecipient[:], GasLimit: int(msg.GasLimit),
					Timestamp: msg.Timestamp, PubKey: msg.Pubkey[:],
				},
				Signature: sig[:],
			}
		}
		validators = append(validators, dv)
	}
	lock := resign(cluster.Lock{Definition: def, Validators: validators}, keys)
	return lock, keys
}

// dkgDepositAmounts are the amounts `charon dkg` makes partial deposits for.
func dkgDepositAmounts(def cluster.Definition) []eth2p0.Gwei {
	if len(def.DepositAmounts) > 0 {
		return deposit.DedupAmounts(def.DepositAmounts)
	}
	if def.Version >= "v1.8.0" || def.Version == "v1.10.0" {
		return deposit.DefaultDepositAmounts(def.Compounding)
	}
	return []eth2p0.Gwei{deposit.DefaultDepositAmount}
}

// resign computes the lock hash and signs it with every key share (the
// aggregate) and, from v1.7, with every node's ENR key.
func resign(lock cluster.Lock, keys signers) cluster.Lock {
	lock, err := lock.SetLockHash()
	must(err)
	var sigs []tbls.Signature
	for _, shares := range keys.shares {
		for _, share := range shares {
			sig, err := tbls.Sign(share, lock.LockHash)
			must(err)
			sigs = append(sigs, sig)
		}
	}
	aggregate, err := tbls.Aggregate(sigs)
	must(err)
	lock.SignatureAggregate = aggregate[:]
	lock.NodeSignatures = nil
	if lock.Version >= "v1.7.0" || lock.Version == "v1.10.0" {
		for _, key := range keys.enrKeys {
			sig, err := k1util.Sign(key, lock.LockHash)
			must(err)
			lock.NodeSignatures = append(lock.NodeSignatures, sig)
		}
	}
	return lock
}

// createdLock runs the real `charon create cluster` and returns node 0's lock.
func createdLock(charonBin, network string, compounding bool) (string, cluster.Lock) {
	dir, err := os.MkdirTemp("", "vectors-create-cluster-")
	must(err)
	defer os.RemoveAll(dir)
	args := []string{
		"create", "cluster", "--nodes=4", "--threshold=3", "--num-validators=2", "--network=" + network,
		"--fee-recipient-addresses=" + randomAddress(), "--withdrawal-addresses=" + randomAddress(),
		"--cluster-dir=" + dir, fmt.Sprintf("--compounding=%v", compounding),
	}
	if network != "mainnet" {
		args = append(args, "--insecure-keys")
	}
	if output, err := exec.Command(charonBin, args...).CombinedOutput(); err != nil {
		log.Fatalf("charon %v: %v\n%s", args, err, output)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "node0", "cluster-lock.json"))
	must(err)
	var lock cluster.Lock
	must(json.Unmarshal(raw, &lock))
	return fmt.Sprintf("create-cluster/%s/compounding=%v", network, compounding), lock
}

// lockEdit changes a decoded lock; it reports false when the change does
// not apply to the lock's version.
type lockEdit struct {
	field string
	apply func(l *cluster.Lock) bool
}

// jsonEdit changes fields outside the lock hash, on the document itself.
type jsonEdit struct {
	field string
	apply func(doc map[string]any) bool
}

func flipByte(b []byte) []byte {
	out := bytes.Clone(b)
	if len(out) > 0 {
		out[len(out)/2] ^= 0x01
	}
	return out
}

func otherBLSKey() []byte {
	secret, err := tbls.GenerateSecretKey()
	must(err)
	pub, err := tbls.SecretToPublicKey(secret)
	must(err)
	return pub[:]
}

func hasDeposits(l *cluster.Lock) bool {
	return len(l.Validators) > 0 && len(l.Validators[0].PartialDepositData) > 0
}

func hasRegistration(l *cluster.Lock) bool {
	return len(l.Validators) > 0 && len(l.Validators[0].BuilderRegistration.Signature) > 0
}

func lockEdits() []lockEdit {
	otherAddr, err := hex.DecodeString(randomAddress()[2:])
	must(err)
	return []lockEdit{
		{"distributed_validators[0].distributed_public_key", func(l *cluster.Lock) bool {
			l.Validators[0].PubKey = otherBLSKey()
			return true
		}},
		{"distributed_validators[0].public_shares[1]", func(l *cluster.Lock) bool {
			l.Validators[0].PubShares[1] = otherBLSKey()
			return true
		}},
		{"distributed_validators[1]_removed", func(l *cluster.Lock) bool {
			l.Validators = l.Validators[:1]
			return true
		}},
		{"deposit.withdrawal_credentials", func(l *cluster.Lock) bool {
			if !hasDeposits(l) {
				return false
			}
			dd := &l.Validators[0].PartialDepositData[0]
			dd.WithdrawalCredentials = append(bytes.Clone(dd.WithdrawalCredentials[:12]), otherAddr...)
			return true
		}},
		{"deposit.withdrawal_credentials_type", func(l *cluster.Lock) bool {
			if !hasDeposits(l) {
				return false
			}
			dd := &l.Validators[0].PartialDepositData[0]
			dd.WithdrawalCredentials = bytes.Clone(dd.WithdrawalCredentials)
			dd.WithdrawalCredentials[0] ^= 0x03 // 0x01 <-> 0x02
			return true
		}},
		{"deposit.amount", func(l *cluster.Lock) bool {
			if !hasDeposits(l) {
				return false
			}
			l.Validators[0].PartialDepositData[0].Amount += 1_000_000_000
			return true
		}},
		{"deposit.pubkey", func(l *cluster.Lock) bool {
			if !hasDeposits(l) {
				return false
			}
			l.Validators[0].PartialDepositData[0].PubKey = otherBLSKey()
			return true
		}},
		{"deposit.signature", func(l *cluster.Lock) bool {
			if !hasDeposits(l) {
				return false
			}
			dd := &l.Validators[0].PartialDepositData[0]
			dd.Signature = bytes.Clone(l.Validators[1].PartialDepositData[0].Signature)
			return true
		}},
		{"deposit_removed", func(l *cluster.Lock) bool {
			if !hasDeposits(l) || len(l.Validators[0].PartialDepositData) < 2 {
				return false
			}
			l.Validators[0].PartialDepositData = l.Validators[0].PartialDepositData[1:]
			return true
		}},
		{"builder_registration.signature", func(l *cluster.Lock) bool {
			if !hasRegistration(l) {
				return false
			}
			l.Validators[0].BuilderRegistration.Signature = bytes.Clone(l.Validators[1].BuilderRegistration.Signature)
			return true
		}},
		{"builder_registration.message.fee_recipient", func(l *cluster.Lock) bool {
			if !hasRegistration(l) {
				return false
			}
			l.Validators[0].BuilderRegistration.Message.FeeRecipient = otherAddr
			return true
		}},
		{"builder_registration.message.gas_limit", func(l *cluster.Lock) bool {
			if !hasRegistration(l) {
				return false
			}
			l.Validators[0].BuilderRegistration.Message.GasLimit++
			return true
		}},
		{"builder_registration.message.timestamp", func(l *cluster.Lock) bool {
			if !hasRegistration(l) {
				return false
			}
			reg := &l.Validators[0].BuilderRegistration.Message
			reg.Timestamp = reg.Timestamp.Add(time.Second)
			return true
		}},
		{"builder_registration.message.pubkey", func(l *cluster.Lock) bool {
			if !hasRegistration(l) {
				return false
			}
			l.Validators[0].BuilderRegistration.Message.PubKey = l.Validators[1].PubKey
			return true
		}},
	}
}

func jsonEdits() []jsonEdit {
	return []jsonEdit{
		{"lock_hash", func(doc map[string]any) bool {
			doc["lock_hash"] = flipHexByte(doc["lock_hash"])
			return true
		}},
		{"signature_aggregate", func(doc map[string]any) bool {
			sig, ok := doc["signature_aggregate"].(string)
			if !ok || len(sig) < 10 || sig[:2] != "0x" {
				return false
			}
			doc["signature_aggregate"] = flipHexByte(sig)
			return true
		}},
		{"signature_aggregate_removed", func(doc map[string]any) bool {
			doc["signature_aggregate"] = ""
			return true
		}},
		{"node_signatures[1]", func(doc map[string]any) bool {
			sigs, ok := doc["node_signatures"].([]any)
			if !ok || len(sigs) < 2 {
				return false
			}
			sigs[1] = flipHexByte(sigs[1])
			return true
		}},
		{"node_signatures[1]_swapped", func(doc map[string]any) bool {
			sigs, ok := doc["node_signatures"].([]any)
			if !ok || len(sigs) < 2 {
				return false
			}
			sigs[0], sigs[1] = sigs[1], sigs[0]
			return true
		}},
		{"node_signatures_one_missing", func(doc map[string]any) bool {
			sigs, ok := doc["node_signatures"].([]any)
			if !ok || len(sigs) < 2 {
				return false
			}
			doc["node_signatures"] = sigs[:len(sigs)-1]
			return true
		}},
		{"version_unsupported", func(doc map[string]any) bool {
			doc["cluster_definition"].(map[string]any)["version"] = "v1.11.0"
			return true
		}},
	}
}

// lockVariants is the untouched lock followed by every change to it.
func lockVariants(base, network, source string, lock cluster.Lock, keys *signers) []lockVector {
	raw, err := json.Marshal(lock)
	must(err)
	vector := func(field, mode string, raw []byte) lockVector {
		name := base
		if field != "" {
			name += " " + field
		}
		if mode != "" && mode != "stale" {
			name += " " + mode
		}
		return lockVector{
			Name: name, Base: base, Version: lock.Version, Network: network, Source: source,
			Field: field, Mode: mode, Charon: lockVerdict(raw), Deposits: depositVerdict(raw, network), Lock: raw,
		}
	}
	out := []lockVector{vector("", "", raw)}
	for _, e := range jsonEdits() {
		doc := decode(raw)
		if e.apply(doc) {
			out = append(out, vector(e.field, "stale", encode(doc)))
		}
	}
	for _, e := range lockEdits() {
		changed := decodeLock(raw)
		if !e.apply(&changed) {
			continue
		}
		rehashed, err := json.Marshal(changed)
		if err != nil {
			continue // a change Charon cannot even hash
		}
		stale := decode(rehashed)
		stale["lock_hash"] = decode(raw)["lock_hash"]
		out = append(out, vector(e.field, "stale", encode(stale)), vector(e.field, "rehashed", rehashed))
		if keys != nil {
			resigned, err := json.Marshal(resign(changed, *keys))
			must(err)
			out = append(out, vector(e.field, "resigned", resigned))
		}
	}
	return out
}

func decode(raw []byte) map[string]any {
	var doc map[string]any
	must(json.Unmarshal(raw, &doc))
	return doc
}

func encode(doc map[string]any) []byte {
	raw, err := json.Marshal(doc)
	must(err)
	return raw
}

func decodeLock(raw []byte) cluster.Lock {
	var lock cluster.Lock
	must(json.Unmarshal(raw, &lock))
	return lock
}

// lockVerdict is cluster.LoadClusterLock without the file: parse, hashes,
// signatures (with the no-op execution client `charon run` uses unless
// given an endpoint).
func lockVerdict(raw []byte) verdict {
	var lock cluster.Lock
	if err := json.Unmarshal(raw, &lock); err != nil {
		return verdict{Stage: "parse", Error: err.Error()}
	}
	if err := lock.VerifyHashes(); err != nil {
		return verdict{Stage: "hashes", Error: err.Error()}
	}
	if err := lock.VerifySignatures(eth1wrap.NewDefaultEthClientRunner("")); err != nil {
		return verdict{Stage: "signatures", Error: err.Error()}
	}
	return verdict{Valid: true}
}

// depositVerdict checks what a staker relies on, with Charon's functions
// (see the file comment). Versions before v1.6 carry no deposits and
// before v1.7 no registration; only the validator count applies to them.
func depositVerdict(raw []byte, network string) verdict {
	var lock cluster.Lock
	if err := json.Unmarshal(raw, &lock); err != nil {
		return verdict{Stage: "parse", Error: err.Error()}
	}
	fail := func(stage, format string, args ...any) verdict {
		return verdict{Stage: stage, Error: fmt.Sprintf(format, args...)}
	}
	if len(lock.Validators) != lock.NumValidators {
		return fail("validators", "%d validators, the definition has %d", len(lock.Validators), lock.NumValidators)
	}
	withdrawals, fees := lock.WithdrawalAddresses(), lock.FeeRecipientAddresses()
	withDeposits := lock.Version >= "v1.6.0" || lock.Version == "v1.10.0"
	withRegistration := lock.Version >= "v1.7.0" || lock.Version == "v1.10.0"
	for i, dv := range lock.Validators {
		if withRegistration {
			reg := dv.BuilderRegistration.Message
			want, err := registration.NewMessage(eth2p0.BLSPubKey(dv.PubKey), fees[i], uint64(reg.GasLimit), reg.Timestamp)
			if err != nil {
				return fail("registration", "validator %d: %v", i, err)
			}
			if !bytes.Equal(reg.FeeRecipient, want.FeeRecipient[:]) || !bytes.Equal(reg.PubKey, dv.PubKey) {
				return fail("registration", "validator %d: registration message differs from the definition", i)
			}
		}
		if !withDeposits {
			continue
		}
		if len(dv.PartialDepositData) == 0 {
			return fail("deposits", "validator %d: no deposit data", i)
		}
		var amounts []eth2p0.Gwei
		for j, dd := range dv.PartialDepositData {
			want, err := deposit.NewMessage(eth2p0.BLSPubKey(dv.PubKey), withdrawals[i], eth2p0.Gwei(dd.Amount), lock.Compounding)
			if err != nil {
				return fail("deposits", "validator %d deposit %d: %v", i, j, err)
			}
			if !bytes.Equal(dd.PubKey, want.PublicKey[:]) || !bytes.Equal(dd.WithdrawalCredentials, want.WithdrawalCredentials) {
				return fail("deposits", "validator %d deposit %d: message differs from the definition", i, j)
			}
			if len(dd.PubKey) != 48 || len(dd.Signature) != 96 {
				return fail("deposits", "validator %d deposit %d: malformed", i, j)
			}
			data := eth2p0.DepositData{
				PublicKey: eth2p0.BLSPubKey(dd.PubKey), WithdrawalCredentials: dd.WithdrawalCredentials,
				Amount: eth2p0.Gwei(dd.Amount), Signature: eth2p0.BLSSignature(dd.Signature),
			}
			if _, err := deposit.MarshalDepositData([]eth2p0.DepositData{data}, network); err != nil {
				return fail("deposits", "validator %d deposit %d: %v", i, j, err)
			}
			amounts = append(amounts, eth2p0.Gwei(dd.Amount))
		}
		if want := dkgDepositAmounts(lock.Definition); !slices.Equal(deposit.DedupAmounts(amounts), want) {
			return fail("amounts", "validator %d: deposit amounts %v, the definition asks for %v", i, amounts, want)
		}
	}
	return verdict{Valid: true}
}
