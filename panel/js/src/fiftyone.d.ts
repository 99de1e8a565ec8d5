// The App's packages, provided at runtime as window globals (see
// vite.config.ts); only what this component uses is declared.

declare module "@fiftyone/plugins" {
  export const PluginComponentType: { Component: number };
  export function registerComponent(options: {
    name: string;
    label: string;
    component: unknown;
    type: number;
    activator: () => boolean;
  }): void;
}

declare module "@fiftyone/operators" {
  export function usePanelEvent(): (
    panelId: string,
    event: { operator: string; params?: Record<string, unknown> }
  ) => void;
}

declare module "@fiftyone/spaces" {
  export function usePanelId(): string;
}
