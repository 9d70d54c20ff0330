export * from './blueprint.schema';
export * from './stages';
export * from './moment.machine';
export * from './public-errors';
export * from './music-tools.contract';
export * from './pipeline-error';
export * from './style-moods';
