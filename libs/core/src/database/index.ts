export * from './database';
export * from './moment.entity';
export * from './moment-transition.entity';
export * from './webhook-delivery.entity';
