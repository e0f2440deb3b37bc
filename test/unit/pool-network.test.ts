/**
 * PH5_POOL_NETWORK: its default per launcher, the OpenMPI parameters each mode sets (and
 * the user's own settings it leaves alone), and where the doorbell listens.
 */
import assert from 'node:assert/strict';
import type os from 'node:os';
import { test } from 'node:test';
import { doorbellAddresses, formatPoolNetwork, mpiNetworkEnv, mpirunForwardArgs, parsePoolNetwork } from '../../services/worker/network.js';

test('defaults: loopback under mpirun (one host), any under srun and jsrun (pools span nodes)', () => {
  const table: [string | undefined, string, string][] = [
    [undefined, 'mpirun', 'loopback'],
    ['', 'mpirun', 'loopback'],
    [undefined, 'srun', 'any'],
    [undefined, 'jsrun', 'any'],
    ['lo', 'srun', 'loopback'],
    ['loopback', 'srun', 'loopback'],
    ['any', 'mpirun', 'any'],
    ['ib0', 'mpirun', 'ib0'],
    [' ib0 , 10.1.0.0/16 ', 'srun', 'ib0,10.1.0.0/16'],
    ['fd00::/8', 'mpirun', 'fd00::/8'],
  ];
  for (const [raw, launcher, expected] of table) assert.equal(formatPoolNetwork(parsePoolNetwork(raw, launcher)), expected, `${raw} ${launcher}`);
  for (const bad of ['10.1.0.0/33', 'not an interface', '10.1.0.0/', 'x/8', 'averyveryverylongname']) {
    assert.throws(() => parsePoolNetwork(bad, 'mpirun'), /PH5_POOL_NETWORK must be/, bad);
  }
});

test('OpenMPI settings per mode; the user’s own MCA settings win; LD_PRELOAD is kept', () => {
  const lib = '/x/loopback-bind.so';
  assert.deepEqual(mpiNetworkEnv({ kind: 'any' }, {}, lib), {});
  assert.deepEqual(mpiNetworkEnv({ kind: 'loopback' }, {}, lib), { OMPI_MCA_btl: 'self,vader', OMPI_MCA_oob_tcp_if_include: 'lo', LD_PRELOAD: lib });
  assert.deepEqual(mpiNetworkEnv({ kind: 'loopback' }, { OMPI_MCA_btl: 'self,tcp', LD_PRELOAD: '/a.so /b.so' }, lib), {
    OMPI_MCA_oob_tcp_if_include: 'lo',
    LD_PRELOAD: `${lib}:/a.so:/b.so`,
  });
  assert.deepEqual(mpiNetworkEnv({ kind: 'interfaces', include: ['ib0', '10.1.0.0/16'] }, {}, lib), {
    OMPI_MCA_btl_tcp_if_include: 'ib0,10.1.0.0/16',
    OMPI_MCA_oob_tcp_if_include: 'ib0,10.1.0.0/16',
  });
});

test('the doorbell listens on loopback, on the named interfaces and blocks, or everywhere', () => {
  const nic = (address: string, family: 'IPv4' | 'IPv6', internal = false) => ({ address, family, internal, netmask: '', mac: '', cidr: null, scopeid: 0 });
  const interfaces = {
    lo: [nic('127.0.0.1', 'IPv4', true), nic('::1', 'IPv6', true)],
    eth0: [nic('192.168.1.5', 'IPv4'), nic('fe80::1', 'IPv6')],
    ib0: [nic('10.1.2.3', 'IPv4'), nic('fd00::3', 'IPv6')],
  } as unknown as ReturnType<typeof os.networkInterfaces>;
  assert.deepEqual(doorbellAddresses({ kind: 'loopback' }, interfaces), ['127.0.0.1']);
  assert.deepEqual(doorbellAddresses({ kind: 'any' }, interfaces), []);
  assert.deepEqual(doorbellAddresses({ kind: 'interfaces', include: ['ib0'] }, interfaces), ['10.1.2.3', 'fd00::3']);
  assert.deepEqual(doorbellAddresses({ kind: 'interfaces', include: ['192.168.0.0/16'] }, interfaces), ['192.168.1.5']);
  assert.deepEqual(doorbellAddresses({ kind: 'interfaces', include: ['eth0'] }, interfaces), ['192.168.1.5'], 'link-local IPv6 is never used');
  assert.deepEqual(doorbellAddresses({ kind: 'interfaces', include: ['wlan9'] }, interfaces), []);
});

test('mpirun forwards the PH5_* settings to ranks on other hosts, except in a loopback (one-host) pool', () => {
  const env = { PH5_LOG_LEVEL: 'info', PATH: '/bin', PH5_CONTIGUOUS_WRITES: 'collective', OMPI_MCA_btl: 'tcp,self', PH5_UNSET: undefined, PH5_EMPTY: '' };
  const table: [Parameters<typeof mpirunForwardArgs>[0], string[]][] = [
    [{ kind: 'loopback' }, []],
    [{ kind: 'any' }, ['-x', 'PH5_CONTIGUOUS_WRITES', '-x', 'PH5_EMPTY', '-x', 'PH5_LOG_LEVEL']],
    [{ kind: 'interfaces', include: ['10.1.0.0/16'] }, ['-x', 'PH5_CONTIGUOUS_WRITES', '-x', 'PH5_EMPTY', '-x', 'PH5_LOG_LEVEL']],
  ];
  for (const [network, expected] of table) assert.deepEqual(mpirunForwardArgs(network, env), expected, formatPoolNetwork(network));
});
