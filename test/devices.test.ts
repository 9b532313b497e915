import assert from 'node:assert/strict'
import { pickDevice, probeDevices, type DeviceProbe } from '../compute/capacity/device-probe.ts'
import { buildClassifierGraph } from '../compute/models/classifier/graphs.ts'
import { classifierParamSpecs, type ClassifierConfig } from '../compute/models/classifier/config.ts'
import { classifierBatch, classifierData } from '../compute/models/classifier/train-step.ts'
import { loraSpecs } from '../compute/models/lora.ts'
import { initParams } from '../compute/models/param-spec.ts'
import { StepRunner } from '../compute/models/step-runner.ts'
import { DEVICES, DeviceUnavailableError, parseDeviceChoice, UnknownDeviceError } from '../compute/onnx/devices.ts'
import { DEVICE_NAMES } from '../protocols/messages/index.ts'
import { slowdownOf } from '../peer/node/device-choice.ts'
import { Rng } from '../compute/random.ts'
import { readSpamAssassinMails } from '../storage/corpora/spam-assassin.ts'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { runCli, spawnCli } from './helpers/cli.ts'
import { placementOf, readPlacement } from '../compute/onnx/placement.ts'
import { capacityAdvertSchema } from '../protocols/messages/capacity-advert.ts'
import { advertFixture } from './helpers/fixtures.ts'

// CI installs Mesa's software Vulkan device (lavapipe) and sets this: there, the WebGPU
// path must run. Elsewhere a machine without a Vulkan driver skips the WebGPU cases.
const REQUIRE_WEBGPU = process.env.OPENLEDGER_REQUIRE_WEBGPU === '1'

describe('devices: which provider a graph runs on', function () {
  this.timeout(120_000)

  it('the wire names the same devices as the engines (protocols/ keeps its own list)', () => {
    assert.deepEqual([...DEVICE_NAMES], [...DEVICES])
  })

  it('a slower device stretches its bids\' time estimates by its probe\'s slowdown against the CPU, a faster one does not shorten them', () => {
    const probes: DeviceProbe[] = [{ device: 'cpu', available: true, gflops: 80 }, { device: 'webgpu', available: true, gflops: 1.25 }]
    assert.equal(slowdownOf({ device: 'webgpu', reason: 'asked for', probes }), 64)
    assert.equal(slowdownOf({ device: 'webgpu', reason: 'auto', probes: [probes[0], { ...probes[1], gflops: 900 }] }), 1)
    assert.equal(slowdownOf({ device: 'cpu', reason: 'asked for', probes: [] }), 1)
    assert.equal(slowdownOf(undefined), 1)
    assert.equal(slowdownOf({ device: 'webgpu', reason: 'asked for', probes: [probes[0], { ...probes[1], gflops: 0 }] }), 1)
  })

  it('parses a device choice, refusing anything else with a typed error', () => {
    for (const d of ['auto', 'cpu', 'webgpu', 'cuda']) assert.equal(parseDeviceChoice(d), d)
    for (const bad of ['gpu', 'CPU', '', 3, undefined, null, 'cuda12']) {
      assert.throws(() => parseDeviceChoice(bad), (err: Error) => err instanceof UnknownDeviceError && err.name === 'UnknownDeviceError')
    }
  })

  it('auto picks the fastest device that passed its probe; an unavailable device asked for is refused with how to get it', () => {
    const probes: DeviceProbe[] = [
      { device: 'cpu', available: true, gflops: 40 },
      { device: 'webgpu', available: true, gflops: 900 },
      { device: 'cuda', available: false, error: 'its onnxruntime execution provider is not installed' }
    ]
    assert.equal(pickDevice('auto', probes).device, 'webgpu')
    assert.equal(pickDevice('auto', [probes[0], { ...probes[1], gflops: 1 }]).device, 'cpu')
    assert.equal(pickDevice('auto', [{ device: 'webgpu', available: false }]).device, 'cpu')
    assert.equal(pickDevice('cpu', probes).device, 'cpu')
    assert.throws(() => pickDevice('cuda', probes), (err: Error) => err instanceof DeviceUnavailableError && err.name === 'DeviceUnavailableError' && /cuda12/.test(err.message))
    assert.throws(() => pickDevice('webgpu', [probes[0]]), DeviceUnavailableError)
  })

  it('probes the real providers: the CPU measures, CUDA (not in this install) says how to get it', async () => {
    const probes = await probeDevices(['cpu', 'cuda'], { size: 64, chain: 2, runs: 2, threads: 1 })
    assert.equal(probes[0].available, true)
    assert.ok((probes[0].gflops as number) > 0)
    assert.equal(probes[1].available, false)
    assert.match(probes[1].hint as string, /onnxruntime-node-install=cuda12/)
  })

  it('reads where onnxruntime ran each op from its profile: a real CPU session\'s, and malformed events ignored', async () => {
    const cfg: ClassifierConfig = { buckets: 64, maxFeatures: 8, maxChars: 500, embed: 4, hidden: 4, classes: 2 }
    const base = initParams(classifierParamSpecs(cfg), 1)
    const mails = readSpamAssassinMails({ limit: 4 })
    const data = classifierData({ texts: mails.map(m => m.text), labels: mails.map(m => (m.label === 'spam' ? 1 : 0)) }, cfg)
    const dir = await mkdtemp(join(tmpdir(), 'openledger-profile-'))
    try {
      const runner = await StepRunner.create(buildClassifierGraph({ cfg, batch: 4, mode: { kind: 'base' }, train: true }), { threads: 1, profilePrefix: join(dir, 'p') })
      await runner.run(base, classifierBatch(data, [0, 1, 2, 3], 4), 4)
      await runner.release()
      const placement = await readPlacement(join(dir, 'p'))
      assert.deepEqual(Object.keys(placement), ['CPUExecutionProvider'])
      assert.equal(placement.CPUExecutionProvider.share, 1)
      assert.ok(placement.CPUExecutionProvider.ops.includes('MatMul') || placement.CPUExecutionProvider.ops.includes('Gemm'))
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
    const mixed = placementOf([
      { cat: 'Node', name: 'a_kernel_time', dur: 30, args: { provider: 'WebGpuExecutionProvider', op_name: 'MatMul' } },
      { cat: 'Node', name: 'b_kernel_time', dur: 10, args: { provider: 'CPUExecutionProvider', op_name: 'LogSoftmax' } },
      { cat: 'Node', name: 'b_fence_before', dur: 1000, args: { provider: 'CPUExecutionProvider' } },
      { cat: 'Session', name: 'x', dur: 5 }, null, 7
    ])
    assert.equal(mixed.CPUExecutionProvider.share, 0.25)
    assert.deepEqual(mixed.CPUExecutionProvider.ops, ['LogSoftmax'])
    assert.throws(() => placementOf({}), TypeError)
  })

  it('an advert\'s device list is schema-checked: known devices, at most one in use, none at all from older peers', () => {
    const ok = (devices: unknown) => capacityAdvertSchema.safeParse({ ...advertFixture(), devices }).success
    assert.equal(capacityAdvertSchema.safeParse(advertFixture()).success, true)
    assert.equal(ok([{ device: 'cpu', gflops: 12, inUse: false }, { device: 'webgpu', gflops: 900, inUse: true }]), true)
    assert.equal(ok([{ device: 'cpu', gflops: 12, inUse: true }, { device: 'cuda', gflops: 9e3, inUse: true }]), false)
    assert.equal(ok([{ device: 'tpu', gflops: 1, inUse: true }]), false)
    assert.equal(ok([{ device: 'cpu', gflops: -1, inUse: true }]), false)
    assert.equal(ok([{ device: 'cpu', gflops: Infinity, inUse: true }]), false)
    assert.equal(ok(Array.from({ length: 4 }, () => ({ device: 'cpu', gflops: 1, inUse: false }))), false)
  })

  describe('node start --device', () => {
    let dir: string
    const env = { OPENLEDGER_PASSPHRASE: 'device test' }
    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'openledger-device-'))
      assert.equal((await runCli(['key', 'new', '--data-dir', dir, '--kdf-cost', '10'], env)).code, 0)
    })
    after(async () => { await rm(dir, { recursive: true, force: true }) })

    it('refuses an unknown device (exit 2) and a missing one with how to get it (exit 1), before the peer starts', async () => {
      const bad = await runCli(['node', 'start', '--data-dir', dir, '--device', 'gpu'], env)
      assert.equal(bad.code, 2)
      assert.match(bad.stderr, /--device/)
      const cuda = await runCli(['node', 'start', '--data-dir', dir, '--device', 'cuda', '--no-mdns'], env)
      assert.equal(cuda.code, 1, cuda.stderr)
      assert.match(cuda.stderr, /DeviceChoiceError|device cuda is unavailable/)
      assert.match(cuda.stderr, /onnxruntime-node-install=cuda12/)
    })

    it('a peer started on webgpu says so in its status', async function () {
      const [probe] = await probeDevices(['webgpu'], { size: 64, chain: 2, runs: 1, threads: 1 })
      if (!probe.available) {
        if (REQUIRE_WEBGPU) assert.fail(`webgpu is required here but unavailable: ${probe.error}`)
        this.skip()
      }
      const child = spawnCli(['node', 'start', '--data-dir', dir, '--device', 'webgpu', '--no-mdns', '--bench-size', '32', '--listen', '/ip4/127.0.0.1/tcp/0', '--json'], env)
      try {
        let out = ''
        let err = ''
        child.stderr!.on('data', (d) => { err += d })
        await new Promise<void>((resolve, reject) => {
          child.stdout!.on('data', (d) => { out += d; if (out.includes('"event":"ready"')) resolve() })
          child.once('exit', (code) => reject(new Error(`node exited ${code}: ${err.slice(-2000)}`)))
        })
        assert.match(err, /device device=webgpu/)
        const status = await runCli(['status', '--data-dir', dir, '--json'], env)
        assert.equal(status.code, 0, status.stderr)
        const report = JSON.parse(status.stdout.trim().split('\n').pop() as string)
        assert.equal(report.device, 'webgpu')
        // Its advert lists both devices it measured, webgpu in use.
        const listed = report.advert.devices as Array<{ device: string, gflops: number, inUse: boolean }>
        assert.deepEqual(listed.map(d => [d.device, d.inUse]), [['cpu', false], ['webgpu', true]])
        assert.ok(listed.every(d => d.gflops > 0))
      } finally {
        child.kill('SIGTERM')
        await new Promise(resolve => child.once('exit', resolve))
      }
    })
  })

  describe('webgpu (a real ORT session on the WebGPU provider)', () => {
    let probe: DeviceProbe
    before(async function () {
      [probe] = await probeDevices(['webgpu'], { size: 64, chain: 2, runs: 2, threads: 1 })
      if (!probe.available) {
        if (REQUIRE_WEBGPU) assert.fail(`webgpu is required here but unavailable: ${probe.error}`)
        console.log(`      (webgpu unavailable on this machine, skipped: ${probe.error})`)
        this.skip()
      }
    })

    it('model pretrain --device webgpu builds a base there and says so in its provenance', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'openledger-pretrain-'))
      try {
        const r = await runCli(['model', 'pretrain', 'spam-base', '--tiny', '--steps', '2', '--device', 'webgpu', '-o', join(dir, 'm.safetensors'), '--json'])
        assert.equal(r.code, 0, r.stderr)
        assert.equal(JSON.parse(r.stdout.trim().split('\n').pop() as string).provenance.device, 'webgpu')
      } finally {
        await rm(dir, { recursive: true, force: true })
      }
    })

    it('the MatMul chain agrees with the CPU\'s', () => {
      assert.ok((probe.drift as number) <= 1e-3, `drift ${probe.drift}`)
      assert.ok((probe.gflops as number) > 0)
    })

    it('a LoRA training step agrees with the CPU\'s within 1e-4, and a rerun on the same device within 1e-5', async () => {
      const cfg: ClassifierConfig = { buckets: 256, maxFeatures: 16, maxChars: 2000, embed: 8, hidden: 8, classes: 2 }
      const lora = { rank: 2, alpha: 4, targets: ['emb', 'w1', 'w2'] }
      const mails = readSpamAssassinMails({ limit: 8 })
      const data = classifierData({ texts: mails.map(m => m.text), labels: mails.map(m => (m.label === 'spam' ? 1 : 0)) }, cfg)
      const base = initParams(classifierParamSpecs(cfg), 1)
      const adapter = initParams(loraSpecs(classifierParamSpecs(cfg), lora, new Set(['emb'])), 2)
      const rng = new Rng(3)
      for (const t of adapter.values()) for (let i = 0; i < t.data.length; i++) t.data[i] += 0.2 * rng.normal()
      const graph = buildClassifierGraph({ cfg, batch: 8, mode: { kind: 'lora', base, lora }, train: true })
      const feeds = classifierBatch(data, [0, 1, 2, 3, 4, 5, 6, 7], 8)
      const results = []
      for (const device of ['cpu', 'webgpu', 'webgpu'] as const) {
        const runner = await StepRunner.create(graph, { threads: 1, device })
        results.push(await runner.run(adapter, feeds, 8))
        await runner.release()
      }
      const [cpu, gpu, again] = results
      assert.ok(Math.abs(gpu.loss - cpu.loss) <= 1e-4 * Math.abs(cpu.loss), `loss ${gpu.loss} vs ${cpu.loss}`)
      assert.ok(Math.abs(again.loss - gpu.loss) <= 1e-6 * Math.abs(gpu.loss), `rerun loss ${again.loss} vs ${gpu.loss}`)
      for (const [name, g] of cpu.grads) {
        const a = g.data
        const b = gpu.grads.get(name)!.data
        const scale = a.reduce((m, x) => Math.max(m, Math.abs(x)), 0)
        for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i] - b[i]) <= 1e-4 * scale + 1e-7, `${name}[${i}]: ${b[i]} vs ${a[i]}`)
        // Not bit for bit: the embedding's gradient is a scatter-add, whose order on the GPU
        // (lavapipe's threads) can change between runs; measured in the determinism bench.
        const c = again.grads.get(name)!.data
        for (let i = 0; i < b.length; i++) assert.ok(Math.abs(c[i] - b[i]) <= 1e-5 * scale + 1e-8, `${name}[${i}] rerun: ${c[i]} vs ${b[i]}`)
      }
    })
  })
})
