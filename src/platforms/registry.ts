// Which platform an experiment names, and where its code lives. Each platform is imported only when an experiment
// asks for it, so that the interface module (platform.ts) needs none of them and a platform's heavy client
// (dockerode, @kubernetes/client-node, ssh2) is loaded only for its own runs. A new platform adds one case here.
import type {Platform, PlatformFactoryContext} from './platform.js'

export async function createPlatform(ctx: PlatformFactoryContext): Promise<Platform> {
  switch (ctx.experiment.platform) {
    case 'process': {
      const {ProcessPlatform} = await import('./process/index.js')
      return new ProcessPlatform(ctx)
    }
    case 'docker': {
      // dockerode is loaded only here, when an experiment asks for platform docker
      const {DockerPlatform} = await import('./docker/index.js')
      return new DockerPlatform(ctx)
    }
    case 'kubernetes': {
      // @kubernetes/client-node is loaded only here, when an experiment asks for platform kubernetes
      const {KubernetesPlatform} = await import('./kubernetes/index.js')
      return new KubernetesPlatform(ctx)
    }
    case 'host': {
      // ssh2 is loaded only here, when an experiment asks for platform host
      const {HostPlatform} = await import('./host/index.js')
      return new HostPlatform(ctx)
    }
  }
}
