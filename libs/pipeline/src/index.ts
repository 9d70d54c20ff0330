export * from './blueprint.schema';
export * from './stages';
export * from './moment.machine';
