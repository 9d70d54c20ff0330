export * from './blueprint.schema';
export * from './stages';
export * from './moment.machine';
export * from './public-errors';
